"""`trafficpipe calibrate MODEL --dataset DATASET --classes C`: put a class's best-F1 point at the default threshold."""
import json
import os
import sys

from ..errors import TrafficpipeError
from ..log import logger


def add_parser(sub):
    from ..cli_values import non_empty, thread_count
    p = sub.add_parser("calibrate", help="shift a trained model's class scores so that the default threshold falls at "
                                         "each class's operating point on a labeled set",
                       description="For each class of --classes, find on DATASET (use the training set, never the "
                                   "set you report on) the score threshold with the best F1 (or, with "
                                   "--min-precision, the highest recall at that precision), and shift that class's "
                                   "logit in the model's head so that this score becomes --conf (the default "
                                   "threshold of detect). PicoDet: the order of the class's scores, hence its AP, is "
                                   "unchanged, and the operating point lands exactly at --conf. YOLOX (score = "
                                   "objectness x class score): the shift acts on the class factor only, so the order "
                                   "may change slightly (AP moves a little) and the operating point lands near --conf, "
                                   "not on it; calibrate measures the calibrated model again and reports where it "
                                   "landed. Writes OUT (never MODEL itself) with the calibration in its metadata, and "
                                   "the model card beside MODEL (if any) updated; with --eval, the card's figures are "
                                   "measured again.")
    p.add_argument("model", metavar="MODEL", type=non_empty,
                   help="a model written by trafficpipe train/export (PicoDet or YOLOX)")
    p.add_argument("--dataset", required=True, type=non_empty,
                   help="labeled set to calibrate on (e.g. ../shared/data/traffic-train)")
    p.add_argument("--classes", required=True, metavar="CLASS[,CLASS]", help="classes to calibrate (e.g. road_sign)")
    p.add_argument("--conf", type=float, default=0.3, help="the threshold the operating point moves to (default 0.3)")
    p.add_argument("--min-precision", type=float, default=None, metavar="P",
                   help="operating point = the lowest threshold (highest recall) whose precision on DATASET reaches P "
                        "(default: the best F1)")
    p.add_argument("--out", default=None, type=non_empty,
                   help="ONNX file to write, not MODEL itself (default: MODEL's name with a _calibrated suffix, beside "
                        "MODEL; in the current folder where MODEL is a model found in a model folder: the package's, "
                        "$TRAFFICPIPE_MODELS or $TRAFFICPIPE_DATA/models); a model already at OUT is replaced, with "
                        "its card, only once every step succeeded")
    p.add_argument("--eval", default=None, metavar="DATASET", type=non_empty,
                   help="score the calibrated model on this dataset for its card")
    p.add_argument("--baseline", default=None, metavar="MODEL", type=non_empty,
                   help="with --eval: also score this (COCO) model")
    p.add_argument("--threads", type=thread_count, default=0, help="ONNX Runtime threads (0 = all cores)")
    return p


def run(args):
    from ..eval.dataset import load_dataset
    from ..eval.runner import check_readable
    from ..models.model_card import card_path, model_classes
    from ..models.registry import find_model
    from .calibrate import achieved_point, calibration_point, check_shiftable, logit, shift_class_logit
    from .card import commit_outputs, discard_outputs, model_out_path, staging_path

    if not 0.0 < args.conf < 1.0:
        raise TrafficpipeError("--conf must lie in (0, 1), got %s" % args.conf)
    if args.min_precision is not None and not 0.0 < args.min_precision <= 1.0:
        raise TrafficpipeError("--min-precision must lie in (0, 1], got %s" % args.min_precision)
    if args.baseline and not args.eval:
        raise TrafficpipeError("--baseline %s needs --eval: the baseline is scored on that dataset" % args.baseline)
    model = find_model(args.model)
    proto = _load_onnx(model)
    classes = model_classes(model)
    if not classes:
        raise TrafficpipeError("%s names no classes of its own: calibrate takes a model written by trafficpipe "
                               "train or export" % os.path.basename(model))
    names = []
    for c in args.classes.split(","):  # each class once: `vehicle,vehicle` shifts vehicle once
        if c.strip() and c.strip() not in names:
            names.append(c.strip())
    unknown = [c for c in names if c not in classes]
    if unknown:
        raise TrafficpipeError("--classes: %s not among the model's classes %s" % (", ".join(unknown),
                                                                                  ", ".join(classes)))
    check_shiftable(proto, model)  # a model of another kind ends here, not after the scoring
    out = args.out or _default_out(model)
    if _same_file(out, model) or _same_file(card_path(out), card_path(model)):
        raise TrafficpipeError("--out %s is %s: choose another --out; calibrate never replaces its input" % (
            out, "MODEL itself" if _same_file(out, model) else "beside MODEL with MODEL's card"))
    model_out_path(out)
    baseline = find_model(args.baseline) if args.baseline else None  # a typo ends here, before anything is written
    dataset = load_dataset(args.dataset)
    check_readable(dataset)
    if args.eval:
        check_readable(load_dataset(args.eval))  # a missing or unreadable image ends here, before any writing
    meta = dict((p.key, p.value) for p in proto.metadata_props)
    try:
        done = json.loads(meta.get("trafficpipe.calibration", "[]"))
    except ValueError:
        raise TrafficpipeError("%s: metadata trafficpipe.calibration is not valid JSON" % model)
    if not isinstance(done, list):
        raise TrafficpipeError("%s: metadata trafficpipe.calibration is not a list" % model)
    entries = []
    family = None
    for name in names:
        best = calibration_point(model, dataset, name, args.min_precision, threads=args.threads)
        delta = logit(args.conf) - logit(best["threshold"])
        family = shift_class_logit(proto, list(classes).index(name), delta)
        entry = {"class": name, "dataset": dataset.name, "images": best["images"], "gt": best["gt"],
                 "labels": best["labels"], "rule": best["rule"], "threshold": round(best["threshold"], 4),
                 "precision": round(best["precision"], 4), "recall": round(best["recall"], 4),
                 "f1": round(best["f1"], 4), "moved_to": args.conf, "logit_shift": round(delta, 4)}
        if best.get("ap50") is not None:
            entry["ap50"] = round(float(best["ap50"]), 4)
        entries.append(entry)
        logger.info("{}: {}: precision {:.3f}, recall {:.3f} (F1 {:.3f}) at score {:.3f} on {} ({} images); logit "
                    "shifted by {:+.3f} so that it sits at {}{}", name, best["rule"], best["precision"],
                    best["recall"], best["f1"], best["threshold"], dataset.name, best["images"], delta, args.conf,
                    " (approximately: YOLOX)" if family == "yolox" else "")
    # the model and its card go to hidden names beside `out` and replace what is there only once every step
    # succeeded (a killed or failed run leaves no half-written model and no stale card beside a new one)
    staged = staging_path(out)
    try:
        _write(lambda: _save(proto, meta, done + entries, staged), out)
        if family == "yolox":  # the shift acts on the class factor of obj * cls: measure where the point landed
            for e in entries:
                a = e["achieved"] = achieved_point(staged, dataset, e["class"], args.conf, args.min_precision,
                                                   threads=args.threads)
                if a["threshold"] is None or abs(a["threshold"] - args.conf) > 0.05:
                    logger.warning("{}: YOLOX scores objectness x class score, and a shift of the class logit "
                                   "moved its operating point to score {} on {}, not to {}", e["class"],
                                   "(none)" if a["threshold"] is None else "%.3f" % a["threshold"], dataset.name,
                                   args.conf)
            _write(lambda: _save(proto, meta, done + entries, staged), out)
        carded = _card(model, out, staged, done + entries, args, baseline)
        _write(lambda: commit_outputs(staged, out), out)
    except BaseException:
        discard_outputs(staged)
        raise
    sys.stdout.write("wrote %s%s\n" % (out, ", %s, %s" % (card_path(out), os.path.splitext(out)[0] + ".md")
                                       if carded else ""))
    for e in entries:
        sys.stdout.write("  %-14s %s: precision %.3f, recall %.3f at %.3f on %s -> %s %.2f (logit %+.3f)\n"
                         % (e["class"], e["rule"], e["precision"], e["recall"], e["threshold"], e["dataset"],
                            "aimed at" if e.get("achieved") else "now at", e["moved_to"], e["logit_shift"]))
        a = e.get("achieved")
        if a:
            sys.stdout.write("  %-14s YOLOX, approximate: operating point now at score %s; at %.2f precision %.3f, "
                             "recall %.3f; AP50 %s (was %s)\n"
                             % ("", "-" if a["threshold"] is None else "%.3f" % a["threshold"], e["moved_to"],
                                a["precision"], a["recall"], _f4(a["ap50"]), _f4(e.get("ap50"))))
    return 0


def _f4(v):
    return "-" if v is None else "%.4f" % v


def _load_onnx(model):
    """The ModelProto of `model`; TrafficpipeError (one line) when the file is not an ONNX model."""
    import onnx
    try:
        proto = onnx.load(model)
    except Exception as e:
        raise TrafficpipeError("%s is not an ONNX model (%s): calibrate takes a model written by trafficpipe train "
                               "or export" % (model, type(e).__name__))
    if not len(proto.graph.node) or not len(proto.graph.output):
        raise TrafficpipeError("%s is not an ONNX model (no graph in it): calibrate takes a model written by "
                               "trafficpipe train or export" % model)
    return proto


def _default_out(model):
    # type: (str) -> str
    """MODEL's name with a _calibrated suffix: beside MODEL, or in the current folder where MODEL lies in a model
    folder (the package's models, $TRAFFICPIPE_MODELS, $TRAFFICPIPE_DATA/models), never written into."""
    from ..paths import model_dirs
    name = os.path.splitext(os.path.basename(model))[0] + "_calibrated.onnx"
    folder = os.path.dirname(os.path.abspath(model))
    if any(_same_file(folder, d) for d in model_dirs()):
        out = os.path.abspath(name)
        logger.info("{} is in the model folder {}: the calibrated model goes to the current folder ({})",
                    os.path.basename(model), folder, out)
        return out
    return os.path.join(folder, name)


def _same_file(a, b):
    # type: (str, str) -> bool
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _save(proto, meta, calibration, path):
    """Write the ModelProto to `path` (its folder made where missing) with `meta` and the calibration entries in its
    metadata."""
    import onnx
    meta = dict(meta)
    meta["trafficpipe.calibration"] = json.dumps(calibration)
    del proto.metadata_props[:]
    for k in sorted(meta):
        proto.metadata_props.add(key=k, value=meta[k])
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        os.makedirs(folder)
    onnx.save(proto, path)


def _write(step, out):
    """Run a step that writes `out` (or files beside it); an OSError (a folder that cannot be made or written, a full
    disk) becomes one line naming `out`."""
    try:
        return step()
    except (IOError, OSError) as e:
        raise TrafficpipeError("cannot write %s: %s" % (out, e.strerror or e))


def _card(model, out, staged, entries, args, baseline):
    """The card of `model` (if it has one) for `out`, written beside the model at `staged`: calibration recorded,
    figures measured again with --eval. Whether a card was written."""
    from ..engines.onnx_graph import file_sha256
    from .card import write_card
    from .model_eval import compare, evaluate_model
    src = os.path.splitext(model)[0] + ".json"
    if not os.path.isfile(src):
        logger.warning("{} has no model card beside it: none written", os.path.basename(model))
        return False
    try:
        with open(src) as f:
            card = json.load(f)
    except ValueError as e:
        raise TrafficpipeError("model card %s is not valid JSON: %s" % (src, str(e).splitlines()[0]))
    card["name"] = os.path.splitext(os.path.basename(out))[0]
    card["file"] = os.path.basename(out)
    card["sha256"] = file_sha256(staged)
    card["calibration"] = entries
    card.setdefault("method", {})["calibration"] = (
        "per-class score calibration (`trafficpipe calibrate`): %s" % "; ".join(
            "%s: %s on %s (%d images, labels %s: precision %.3f, recall %.3f at score %.3f) moved to %.2f by a "
            "logit shift of %+.3f in the head's bias%s" % (e["class"], e["rule"], e["dataset"], e["images"],
                                                            e["labels"], e["precision"], e["recall"], e["threshold"],
                                                            e["moved_to"], e["logit_shift"], _achieved_text(e))
            for e in entries))
    if args.eval:
        ev = evaluate_model(staged, args.eval, threads=args.threads)
        ev["model"] = os.path.basename(out)
        if baseline:
            ev = compare(ev, evaluate_model(baseline, args.eval, threads=args.threads))
        card["evaluation"] = ev
    elif "evaluation" in card:
        card["evaluation"]["stale"] = "measured before calibration; run calibrate with --eval"
    _write(lambda: write_card(card, staged), out)
    return True


def _achieved_text(e):
    a = e.get("achieved")
    if not a:
        return ""
    return (" (YOLOX, approximate: the shift acts on the class factor of objectness x class score; measured again, "
            "the operating point is now at score %s, precision %.3f and recall %.3f at %.2f, AP50 %s, was %s)"
            % ("-" if a["threshold"] is None else "%.3f" % a["threshold"], a["precision"], a["recall"], e["moved_to"],
               _f4(a["ap50"]), _f4(e.get("ap50"))))
