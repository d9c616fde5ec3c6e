"""`trafficpipe eval-track SEQ [SEQ ...]`: score tracking on MOTChallenge sequences with TrackEval (HOTA, DetA,
AssA, MOTA, IDF1, ID switches), end to end (our detector on the frames, then the tracker) or tracker-only (given
detections: each sequence's det/det.txt)."""
import json
import os
import shutil
import sys

from ..errors import DatasetError, TrafficpipeError, TruncatedInput
from ..log import logger
from .scores import METRIC_KEYS

STAGE = ".eval-track.partial"  # where a run writes until it is scored


def add_parser(sub):
    from ..cli_values import positive_int
    from ..commands.options import add_model_options
    p = sub.add_parser("eval-track", help="score tracking on MOTChallenge sequences (HOTA, MOTA, IDF1) with TrackEval",
                       description="Track every SEQ (a MOTChallenge sequence folder: seqinfo.ini, gt/gt.txt, img1/ "
                                   "frames or det/det.txt) and score it with TrackEval: HOTA, DetA, AssA, MOTA, IDF1, "
                                   "ID switches. End to end (default): the detector runs on img1/ and the tracker on "
                                   "its detections; --dets public: the tracker alone on det/det.txt. Ground truth "
                                   "with MOTChallenge classes is scored as MOT17 (pedestrians), without as MOT15. "
                                   "Writes report.json, the tracks (data/<seq>.txt) and, end to end, the detections "
                                   "used (dets/<seq>.txt) under --out.")
    p.add_argument("sequences", nargs="+", metavar="SEQ",
                   help="MOTChallenge sequence folder(s), or folders of them (e.g. ../shared/data/tracking/mot17)")
    p.add_argument("--dets", choices=("detector", "public"), default="detector",
                   help="detector: run the model on img1/ (end to end, default); public: the sequence's det/det.txt "
                        "(tracker only)")
    p.add_argument("--out", default="eval-track", help="output folder (default %(default)s)")
    p.add_argument("--tracker", default="bytetrack", choices=("bytetrack", "ocsort"), help="tracker (default %(default)s)")
    p.add_argument("--max-frames", type=positive_int, default=None,
                   help="score only the first N frames of each sequence")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_model_options(p, conf=0.1, classes="pedestrian",
                      classes_help="the class scored: pedestrian, the one MOTChallenge labels (default pedestrian)")
    return p


def run(args):
    from .motdata import detections_by_frame, frame_file_name, read_mot_rows, read_seqinfo, sequence_frames
    from .scores import gt_benchmark, score_tracks

    from ..models.classes import parse_classes
    if parse_classes(args.classes) != ("pedestrian",):
        raise TrafficpipeError("eval-track scores pedestrians, the one class MOTChallenge ground truth labels: "
                               "--classes must be pedestrian, not %s" % args.classes)
    seqs = []
    folders = _sequence_folders(args.sequences)
    _check_out_apart(args.out, folders)
    for folder in folders:
        info = read_seqinfo(folder)
        gt = os.path.join(folder, "gt", "gt.txt")
        gt_rows = read_mot_rows(gt, min_cols=7, what="ground truth")
        name = os.path.basename(os.path.normpath(folder))
        full = info.length
        _check_within(gt_rows, full, gt, "ground-truth rows")
        benchmark = gt_benchmark(gt_rows)  # from every row, also those past --max-frames
        if args.max_frames:
            info.length = min(info.length, args.max_frames)
            gt_rows = _rows_upto(gt_rows, info.length)
            if not len(gt_rows):
                raise DatasetError("%s: no ground truth in frames 1-%d (--max-frames %d): nothing to score"
                                   % (gt, info.length, args.max_frames))
        dets = None
        if args.dets == "public":
            det = os.path.join(folder, "det", "det.txt")
            det_rows = read_mot_rows(det)
            _check_within(det_rows, full, det, "detection rows")
            dets = detections_by_frame(_rows_upto(det_rows, info.length), info.length)
        elif not os.path.isdir(info.images):
            raise DatasetError("%s has no %s/ frames; score its det/det.txt with --dets public" % (folder, info.im_dir))
        else:
            dets = sequence_frames(info)  # frame images by number: a missing or unreadable one leaves a gap
            if not any(dets):
                raise DatasetError("%s: none of its %d frames found in %s/ (%s, ...)"
                                   % (folder, info.length, info.im_dir, os.path.basename(frame_file_name(info, 1))))
        seqs.append((name, info, gt_rows, dets, benchmark))
    names = [s[0] for s in seqs]
    if len(set(names)) != len(names):
        raise DatasetError("two sequences are named alike: %s" % ", ".join(names))
    benchmarks = set(s[4] for s in seqs)
    if len(benchmarks) > 1:
        raise DatasetError("sequences with and without MOTChallenge classes in gt.txt cannot be scored together")
    benchmark = benchmarks.pop()
    _check_out(args.out)
    # written into a staging folder and put in place once scored: a run that fails or is stopped leaves the earlier
    # run's files and report as they were
    stage = os.path.join(args.out, STAGE)
    shutil.rmtree(stage, ignore_errors=True)
    data_dir = os.path.join(stage, "data")
    gt_dir = os.path.join(stage, "gt")
    for d in (data_dir, gt_dir):
        try:
            os.makedirs(d, exist_ok=True)
        except OSError as e:
            raise DatasetError("cannot create %s: %s" % (os.path.dirname(stage) or ".", e.strerror or e))
    try:
        files, gts, lengths, runs = {}, {}, {}, {}
        damaged = []  # (name, its source's error): sequences with frames missing or unreadable
        for name, info, gt_rows, dets, _ in seqs:
            path = files[name] = os.path.join(data_dir, name + ".txt")
            gts[name] = os.path.join(gt_dir, name + ".txt")
            _write_rows(gts[name], gt_rows)
            lengths[name] = info.length
            if args.dets == "public":
                from . import make_tracker
                from .offline import track_detections
                rows = track_detections(make_tracker(args.tracker), dets, info.fps, path)
                runs[name] = {"mode": "tracker-only", "detections": "det/det.txt", "rows": rows, "frames": info.length}
            else:
                runs[name], error = _end_to_end(args, name, info, dets, path, os.path.join(stage, "dets"))
                if error:
                    damaged.append((name, error))
            run = runs[name]
            logger.info("eval-track: {} tracked ({} frames{}, {})", name, run["frames"],
                        "; %d missing or unreadable" % run["unreadable"] if run.get("unreadable") else "", run["mode"])
        scores = score_tracks(gts, lengths, files, benchmark)
        report = {"benchmark": benchmark, "tracker": args.tracker, "dets": args.dets, "sequences": runs,
                  "scores": scores}
        _put_in_place(stage, args.out, set(n + ".txt" for n in names), report)
    finally:
        shutil.rmtree(stage, ignore_errors=True)  # a run that failed or was stopped: the earlier outputs stay
    sys.stdout.write(format_scores(scores))
    sys.stdout.flush()
    where = os.path.abspath(os.path.join(args.out, "report.json"))
    logger.info("eval-track: report in {}", where)
    if damaged:  # scored as far as the frames decode: exit 3, the damage named in the last line
        for name, error in damaged[1:]:
            logger.error("eval-track: {}: {}", name, error)
        bad = sum(runs[n]["unreadable"] for n, _ in damaged)
        raise TruncatedInput("%s: %s%s; scored with no detections on %s (report in %s)" % (
            damaged[0][0], damaged[0][1],
            " (and %d more sequences with frames missing or unreadable)" % (len(damaged) - 1) if len(damaged) > 1
            else "", "that frame" if bad == 1 else "those %d frames" % bad, where))
    return 0


def _sequence_folders(paths):
    # type: (list) -> list
    """Each path that is a sequence, or the sequences in each folder of them, in order; DatasetError (one line) for a
    path that is neither."""
    from .motdata import find_sequences
    out = []
    for path in paths:
        found = find_sequences(path)
        if not found:
            if not os.path.isdir(path):
                raise DatasetError("%s is not a folder (expected a MOTChallenge sequence with seqinfo.ini, or a "
                                   "folder of them)" % path)
            raise DatasetError("%s is neither a MOTChallenge sequence (seqinfo.ini, gt/gt.txt) nor a folder of "
                               "them" % path)
        out.extend(found)
    return out


def _rows_upto(rows, length):
    return rows[rows[:, 0] <= length]


def _check_out(out):
    """DatasetError (one line) where something in `out` stands where eval-track writes a file or a folder."""
    for name, folder in (("report.json", False), ("data", True), ("gt", True), ("dets", True)):
        path = os.path.join(out, name)
        if os.path.exists(path) and os.path.isdir(path) != folder:
            raise DatasetError("cannot write %s: it is %s; move it or choose another --out" % (
                path, "a file where eval-track writes a folder" if folder else "a folder"))


def _check_out_apart(out, folders):
    """DatasetError (one line) where `out` is a sequence being scored or lies inside one: eval-track's gt/ and data/
    would then mix with the sequence's own files."""
    where = os.path.realpath(out)
    for folder in folders:
        seq = os.path.realpath(folder)
        if where == seq or where.startswith(seq + os.sep):
            raise DatasetError("--out %s is %s %s; its gt/ and det/ are inputs: choose another --out"
                               % (out, "the sequence" if where == seq else "inside the sequence", folder))


def _earlier_sequences(out):
    # type: (str) -> set
    """The sequence names of the report.json an earlier eval-track left in `out` (none where there is no such
    report): only their files are this command's to remove."""
    try:
        with open(os.path.join(out, "report.json")) as f:
            sequences = json.load(f).get("sequences")
    except (IOError, OSError, ValueError, AttributeError):
        return set()
    return set(sequences) if isinstance(sequences, dict) else set()


def _put_in_place(stage, out, ours, report):
    """Move the staged sequence files (`data/`, `gt/`, `dets/`: `ours`, the file names this run wrote) into `out`,
    remove those an earlier run left there that this one did not write, then write report.json; what it replaces is
    said in one line first."""
    replaced = [os.path.join(sub, n) for sub in ("data", "gt", "dets") for n in sorted(ours)
                if os.path.exists(os.path.join(stage, sub, n)) and os.path.exists(os.path.join(out, sub, n))]
    if os.path.exists(os.path.join(out, "report.json")):
        replaced.insert(0, "report.json")
    if replaced:
        logger.info("eval-track: replacing {} existing output{} in {}: {}", len(replaced),
                    "" if len(replaced) == 1 else "s", os.path.abspath(out),
                    ", ".join(replaced[:4]) + (", ..." if len(replaced) > 4 else ""))
    earlier = _earlier_sequences(out)
    written = {}
    for sub in ("data", "gt", "dets"):  # dets/: end to end, the detections used; a --dets public run writes none
        final = os.path.join(out, sub)
        written[final] = set(n for n in ours if os.path.exists(os.path.join(stage, sub, n)))
        if written[final]:
            os.makedirs(final, exist_ok=True)
        for n in written[final]:
            os.replace(os.path.join(stage, sub, n), os.path.join(final, n))
    _remove_earlier(out, written, earlier)
    tmp = os.path.join(stage, "report.json")
    with open(tmp, "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    os.replace(tmp, os.path.join(out, "report.json"))


def _remove_earlier(out, written, earlier):
    """Remove the sequence files (`data/`, `gt/`, `dets/`) an earlier eval-track left in `out` that this one did not
    write (`written`: folder -> file names this run wrote there; `earlier`: the sequences the earlier report.json
    lists, whose files alone are removed, never another file), so the folder matches its report.json; said in one
    line."""
    stale = [os.path.join(d, n) for d in sorted(written) if os.path.isdir(d) for n in sorted(os.listdir(d))
             if n.endswith(".txt") and n[:-4] in earlier and n not in written[d]]
    for path in stale:
        os.remove(path)
    if stale:
        logger.info("eval-track: removed {} sequence file{} of an earlier run in {} ({})", len(stale),
                    "" if len(stale) == 1 else "s", os.path.abspath(out),
                    ", ".join(os.path.relpath(p, out) for p in stale[:4]) + (", ..." if len(stale) > 4 else ""))


def _check_within(rows, length, path, what):
    """DatasetError (one line) for rows of `path` past the sequence's `length` frames (seqinfo.ini's seqLength)."""
    if len(rows) and rows[:, 0].max() > length:
        raise DatasetError("%s: %s reach frame %d but the sequence has %d frames (seqinfo.ini)"
                           % (path, what, rows[:, 0].max(), length))


def _write_rows(path, rows):
    with open(path, "w") as f:
        for r in rows.tolist():
            f.write(",".join("%d" % v if v == int(v) else "%g" % v for v in r) + "\n")


def _end_to_end(args, name, info, frames, path, det_dir):
    """Our detector over the sequence's frames (`frames`: each one's image, None where missing), tracked in the
    pipeline; also keeps the detections (det.txt format). (run report, None or what was missing or unreadable)."""
    from ..commands.options import make_detector
    from ..pipeline import Pipeline
    from ..run_config import RunConfig
    from ..sinks.tracks import MotSink
    from .mot_images import SequenceImages
    from .steps import tracking_steps

    class DetSink(MotSink):  # every detection the tracker saw, MOTChallenge det.txt rows (frame,-1,x,y,w,h,score)
        def _write(self, frame):
            rows = ["%d,-1,%.2f,%.2f,%.2f,%.2f,%.4f\n" % (frame.index + 1, b[0], b[1], b[2] - b[0], b[3] - b[1], s)
                    for b, s in zip(frame.detections.boxes.tolist(), frame.detections.scores.tolist())]
            self.f.write("".join(rows))

    os.makedirs(det_dir, exist_ok=True)
    detector = make_detector(args)
    source = SequenceImages(info, frames, name=name)
    try:
        source.open()
        # sinks see a frame after the tracking step; with keep_conf 0 it drops nothing, so DetSink records exactly
        # the detections the tracker was given; a frame's index is its number less one, also after a gap
        pipe = Pipeline([source], detector, RunConfig.defaults(max_frames=info.length),
                        sinks=[[DetSink(os.path.join(det_dir, name + ".txt")), MotSink(path)]], draw=False,
                        steps=tracking_steps(None, args.tracker, keep_conf=0.0, image_fps=info.fps))
        summary = pipe.run()
    finally:
        detector.close()
    bad = source.bad_frames
    run = {"mode": "end-to-end", "model": os.path.basename(detector.model_path), "conf": args.conf,
           "classes": args.classes, "frames": info.length, "frames_decoded": summary.frames_out,
           "unreadable": len(bad), "fps": round(summary.fps, 2)}
    if bad:
        run["unreadable_frames"] = [{"frame": n, "why": why} for n, why in bad]
    return run, source.error if bad else None


def format_scores(scores):
    # type: (dict) -> str
    """A text table: one row per sequence (and the combined row), HOTA DetA AssA MOTA IDF1 IDSW."""
    head = "%-22s" % "sequence" + "".join("%8s" % k for k in METRIC_KEYS)
    lines = [head]
    for seq in sorted(scores, key=lambda s: (s == "COMBINED_SEQ", s)):
        r = scores[seq]
        lines.append("%-22s" % ("combined" if seq == "COMBINED_SEQ" else seq) +
                     "".join(("%8d" % r[k]) if k == "IDSW" else ("%8.1f" % r[k]) for k in METRIC_KEYS))
    return "\n".join(lines) + "\n"
