"""Eval outputs: the terminal table, report.json, precision-recall PNGs and the VOC mAP tool's detection-results files."""
import json
import os
import posixpath

import numpy as np

from ..errors import SinkError
from ..log import logger
from ..sinks.files import remove_tree, replace_folder
from ..sources.base import number_repeats
from ..models.classes import TRAFFIC_CLASSES

RESULTS_FOLDER = "detection-results"
#: every name an eval writes in its output folder (nothing else there is ever replaced or removed), and whether it is
#: a folder
EVAL_OUTPUTS = dict([("report.json", False), ("table.txt", False), (RESULTS_FOLDER, True), ("pr_curves.png", False)]
                    + [("pr_%s.png" % c, False) for c in TRAFFIC_CLASSES])


def _f(v, width=6, digits=3):
    return ("%*.*f" % (width, digits, v)) if v is not None else ("%*s" % (width, "-"))


def format_table(result):
    # type: (object) -> str
    """The per-class table (VOC AP50, COCO AP, AP75, AP by size, best-F1 point), the mean row, AP50 by source."""
    lines = []
    head = "%-14s %6s %6s %5s %7s  %6s %6s %6s %6s %6s %6s  %6s %6s %6s %6s" % (
        "class", "images", "gt", "diff", "dets", "AP50", "AP", "AP75", "APs", "APm", "APl", "P", "R", "F1", "thr")
    lines.append(head)
    lines.append("-" * len(head))
    for name, c in result.classes.items():
        lines.append("%-14s %6d %6d %5d %7d  %s %s %s %s %s %s  %s %s %s %s" % (
            name, c.images, c.gt, c.difficult, c.detections, _f(c.ap50), _f(c.ap), _f(c.ap75), _f(c.ap_small),
            _f(c.ap_medium), _f(c.ap_large), _f(c.precision), _f(c.recall), _f(c.f1), _f(c.threshold)))
    lines.append("-" * len(head))
    lines.append("%-14s %6d %6s %5s %7s  %s %s %s %s %s %s" % (
        "mean", result.n_images, "", "", "", _f(result.map50), _f(result.map), _f(result.map75), _f(result.map_small),
        _f(result.map_medium), _f(result.map_large)))
    for name, why in result.skipped.items():
        lines.append("%-14s not scored: %s" % (name, why))
    names = list(result.classes)
    if result.sources and names:
        lines.append("")
        lines.append("AP50 by source (ground-truth boxes)")
        lines.append("%-22s %6s " % ("source", "images") + " ".join("%13s" % n for n in names) + " %7s" % "mAP50")
        for src, e in result.sources.items():
            cells = " ".join("%13s" % ("%s (%d)" % (_f(e["classes"][n]["ap50"], 0), e["classes"][n]["gt"])
                                       if n in e["classes"] else "-") for n in names)
            lines.append("%-22s %6d " % (src, e["images"]) + cells + " %7s" % _f(e["map50"], 0))
    lines.append("")
    lines.append("AP50: VOC all-point at IoU 0.5; AP: COCO .50:.95; P/R/F1 at the best-F1 score threshold (thr)")
    return "\n".join(lines) + "\n"


def write_report(result, out_dir, plots=True, detection_results=True):
    # type: (object, str, bool, bool) -> list
    """Write report.json, table.txt, pr_<class>.png + pr_curves.png (when matplotlib is installed) and, when the
    result holds detections, detection-results/<image>.txt. Returns the paths written.

    Everything is written aside first (`out_dir/.eval.partial/`) and then put in place, replacing the outputs of an
    earlier eval into the same folder (said in one line); those this one does not write (a plot of a class no longer
    scored, detection-results files of images no longer in the set) are removed, so the folder never mixes runs.
    Only what an eval writes (EVAL_OUTPUTS) is ever replaced or removed: other files in `out_dir` are left alone."""
    detection_results = detection_results and result.detections is not None and result.image_names is not None
    check_output_folder(out_dir, detection_results=detection_results)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise SinkError("cannot create output folder %s: %s" % (out_dir, e.strerror or e))
    staged = os.path.join(out_dir, ".eval.partial")
    remove_tree(staged)
    try:
        os.makedirs(staged)
    except OSError as e:
        raise SinkError("cannot write to %s: %s" % (out_dir, e.strerror or e))
    try:
        _write_text(os.path.join(staged, "report.json"), json.dumps(result.to_dict(), indent=2, sort_keys=False) + "\n")
        _write_text(os.path.join(staged, "table.txt"), format_table(result))
        if plots:
            plot_pr_curves(result, staged)
        if detection_results:
            write_detection_results(result.image_names, result.detections, os.path.join(staged, RESULTS_FOLDER))
        return _put_in_place(staged, out_dir)
    finally:
        remove_tree(staged)


def check_output_folder(out_dir, detection_results=True):
    # type: (str, bool) -> None
    """SinkError (one line) when eval could not write its outputs into `out_dir`: call it before detecting, so that a
    run does not fail only at its end. `out_dir` must be a folder (or creatable), and where it holds an entry with the
    name of an eval output, that entry must be of the kind eval writes (a file, or for detection-results/ a folder of
    .txt files only): eval never removes what it did not write."""
    path = os.path.abspath(out_dir)
    if os.path.lexists(path) and not os.path.isdir(path):
        raise SinkError("output folder %s is a file, not a folder; choose another --out" % path)
    if not os.path.isdir(path):
        up = os.path.dirname(path)
        while up != os.path.dirname(up) and not os.path.lexists(up):
            up = os.path.dirname(up)
        if not os.path.isdir(up):
            raise SinkError("cannot create output folder %s: %s is a file, not a folder" % (path, up))
        if not os.access(up, os.W_OK | os.X_OK):
            raise SinkError("cannot create output folder %s: %s is not writable" % (path, up))
        return
    if not os.access(path, os.W_OK | os.X_OK):
        raise SinkError("cannot write to output folder %s: it is not writable" % path)
    for name, is_folder in EVAL_OUTPUTS.items():
        if name == RESULTS_FOLDER and not detection_results:
            continue
        entry = os.path.join(path, name)
        if not os.path.lexists(entry):
            continue
        if is_folder:
            if os.path.islink(entry) or not os.path.isdir(entry):
                raise SinkError("%s holds %s, which is not the folder eval writes there; move it away or choose "
                                "another --out" % (path, name))
            other = [n for n in sorted(os.listdir(entry))
                     if not (n.endswith(".txt") and os.path.isfile(os.path.join(entry, n)))]
            if other:
                raise SinkError("%s holds %s/ with %s in it, which eval does not write (it replaces that folder); "
                                "move it away or choose another --out" % (path, name, other[0]))
        elif os.path.isdir(entry) and not os.path.islink(entry):
            raise SinkError("%s holds a folder named %s, where eval writes a file; move it away or choose another "
                            "--out" % (path, name))


def _earlier_outputs(out_dir):
    # type: (str) -> list
    """The names of what an eval writes that are already in `out_dir`: exactly the names in EVAL_OUTPUTS, of the kind
    eval writes them (a user's pr_mynotes.png is not one)."""
    return [n for n in sorted(os.listdir(out_dir))
            if n in EVAL_OUTPUTS and os.path.isdir(os.path.join(out_dir, n)) == EVAL_OUTPUTS[n]]


def _put_in_place(staged, out_dir):
    # type: (str, str) -> list
    """Move the outputs written in `staged` into `out_dir`, replacing an earlier eval's (removed where not rewritten)."""
    new = sorted(os.listdir(staged))
    old = _earlier_outputs(out_dir)
    if old:
        shown = [n + "/" if os.path.isdir(os.path.join(out_dir, n)) else n for n in old]
        gone = [n for n in old if n not in new]
        logger.info("replacing {} existing output{} in {}: {}{}", len(old), "" if len(old) == 1 else "s",
                    os.path.abspath(out_dir), ", ".join(shown[:6]) + (", ..." if len(shown) > 6 else ""),
                    " (%d not written by this run removed)" % len(gone) if gone else "")
    written = []
    for n in new:
        src, dst = os.path.join(staged, n), os.path.join(out_dir, n)
        if os.path.isdir(src):
            replace_folder(src, dst)
        else:
            if os.path.isdir(dst):
                remove_tree(dst)
            try:
                os.replace(src, dst)
            except OSError as e:
                raise SinkError("cannot write %s: %s" % (dst, e.strerror or e))
        written.append(dst)
    for n in old:
        if n not in new:
            remove_tree(os.path.join(out_dir, n))
    return written


def _write_text(path, text):
    try:
        with open(path, "w") as f:
            f.write(text)
    except (IOError, OSError) as e:
        raise SinkError("cannot write %s: %s" % (path, e.strerror or e))


def result_file_names(image_names):
    # type: (list) -> list
    """File stems for detection-results, unique (also on case-insensitive file systems) and a function of the names
    alone: the image's stem when those are unique, else the fewest last folders that make all unique joined by '_'
    for all (seqA/img1/000001.jpg -> seqA_img1_000001); names still shared (x.jpg and x.png) keep their extension
    (x_jpg), and any left are numbered (x_1)."""
    parts = [_name_parts(n) for n in image_names]
    deepest = max([len(p) for p in parts] or [1])
    for k in range(1, deepest + 1):
        stems = ["_".join(p[-k:]) for p in parts]
        if len(set(st.lower() for st in stems)) == len(stems):
            return stems
    counts = {}
    for st in stems:
        counts[st.lower()] = counts.get(st.lower(), 0) + 1
    ext = [os.path.splitext(n)[1][1:].lower() for n in image_names]
    stems = [st + "_" + e if counts[st.lower()] > 1 and e else st for st, e in zip(stems, ext)]
    return number_repeats(stems)


def _name_parts(name):
    # type: (str) -> list
    """An image name's path components, the last without its extension ("./a/b/x.jpg" -> ["a", "b", "x"])."""
    parts = [p for p in posixpath.normpath(name.replace("\\", "/")).split("/") if p not in ("", ".")]
    if not parts:
        return ["image"]
    parts[-1] = os.path.splitext(parts[-1])[0] or parts[-1]
    return parts


def write_detection_results(image_names, detections, folder):
    # type: (list, list, str) -> str
    """The VOC mAP tool's input: one `<name>.txt` per image with `class score x1 y1 x2 y2` lines (like TxtSink)."""
    from .scoring import as_arrays
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise SinkError("cannot create output folder %s: %s" % (folder, e.strerror or e))
    for stem, dets in zip(result_file_names(image_names), detections):
        b, s, c = as_arrays(dets)
        lines = ["%s %.6f %d %d %d %d" % (TRAFFIC_CLASSES[k], sc, round(x[0]), round(x[1]), round(x[2]), round(x[3]))
                 for k, sc, x in zip(c.tolist(), s.tolist(), b.tolist())]
        _write_text(os.path.join(folder, stem + ".txt"), "\n".join(lines) + ("\n" if lines else ""))
    return folder


def plot_pr_curves(result, out_dir):
    # type: (object, str) -> list
    """pr_<class>.png per class and pr_curves.png with all of them; skipped with a warning without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed: precision-recall PNGs skipped (pip install matplotlib)")
        return []
    written = []
    fig_all, ax_all = plt.subplots(figsize=(6, 5))
    for name, c in result.classes.items():
        cv = c.curve
        rec, prec = cv.recall, cv.precision
        env = np.maximum.accumulate(prec[::-1])[::-1] if prec.size else prec
        fig, ax = plt.subplots(figsize=(6, 5))
        ax.plot(rec, prec, lw=0.8, alpha=0.5, label="precision")
        ax.plot(rec, env, lw=1.6, label="interpolated (AP50 %.3f)" % (c.ap50 or 0.0))
        if c.threshold is not None:
            ax.plot([c.recall], [c.precision], "o", label="best F1 %.3f @ %.3f" % (c.f1, c.threshold))
        _axes(ax, "%s: %d gt on %d images" % (name, c.gt, c.images))
        path = os.path.join(out_dir, "pr_%s.png" % name)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
        ax_all.plot(rec, env, lw=1.4, label="%s %.3f" % (name, c.ap50 or 0.0))
    _axes(ax_all, "%s: AP50 by class (mAP50 %s)" % (result.dataset, _f(result.map50, 0)))
    path = os.path.join(out_dir, "pr_curves.png")
    fig_all.savefig(path, dpi=100)
    plt.close(fig_all)
    written.append(path)
    return written


def _axes(ax, title):
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
