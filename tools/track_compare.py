"""Ours (trafficpipe ByteTrack) against roboflow `trackers` ByteTrack on the same detections, scored by TrackEval.

    python tools/track_compare.py --mot17 ../shared/data/tracking/mot17 [--out bench/results/cpu-2core-tracking-mot17.json]

Tracker-only: MOT17 public FRCNN detections (det/det.txt). Test/tool dependency: trackers (Python >= 3.10),
supervision, trackeval.
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from trafficpipe.tracking import TrackerConfig, make_tracker  # noqa: E402
from trafficpipe.tracking.motdata import (detections_by_frame, format_mot_rows, read_mot_rows,  # noqa: E402
                                          read_seqinfo)
from trafficpipe.tracking.offline import track_detections  # noqa: E402
from trafficpipe.tracking.scores import score_tracks  # noqa: E402


def run_theirs(per_frame, fps, out_path, tracker_name="bytetrack"):
    import supervision as sv
    from trackers import ByteTrackTracker, OCSORTTracker
    tracker = (OCSORTTracker if tracker_name == "ocsort" else ByteTrackTracker)(frame_rate=fps)
    with open(out_path, "w") as f:
        for k, (boxes, scores) in enumerate(per_frame):
            det = sv.Detections(xyxy=boxes.astype(np.float32).reshape(-1, 4), confidence=scores.astype(np.float32),
                                class_id=np.zeros(len(scores), int))
            res = tracker.update(det)
            ids = np.asarray(res.tracker_id if res.tracker_id is not None else [], int)
            m = ids >= 0
            f.write(format_mot_rows(k + 1, ids[m].tolist(), res.xyxy[m].tolist(), res.confidence[m].tolist()))


def load_sequences(seqs):
    """[(sequence folder, det file or None for its det/det.txt)] -> {name: (info, per-frame detections, gt path)}."""
    out = {}
    for folder, dets in seqs:
        info = read_seqinfo(folder)
        rows = read_mot_rows(dets or os.path.join(folder, "det", "det.txt"))
        out[os.path.basename(os.path.normpath(folder))] = (info, detections_by_frame(rows, info.length),
                                                           os.path.join(folder, "gt", "gt.txt"))
    return out


def compare(seqs, config=None, theirs=True, benchmark="MOT17", tracker="bytetrack"):
    data = load_sequences(seqs)
    work = tempfile.mkdtemp(prefix="track-compare-")
    files = {"ours": {}, "trackers": {}}
    for seq, (info, per_frame, _) in data.items():
        p = os.path.join(work, "ours-" + seq + ".txt")
        track_detections(make_tracker(tracker, config), per_frame, info.fps, p)
        files["ours"][seq] = p
        if theirs:
            p = os.path.join(work, "trackers-" + seq + ".txt")
            run_theirs(per_frame, info.fps, p, tracker)
            files["trackers"][seq] = p
    lengths = {seq: v[0].length for seq, v in data.items()}
    gts = {seq: v[2] for seq, v in data.items()}
    return {name: score_tracks(gts, lengths, f, benchmark) for name, f in files.items() if f}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mot17", default=os.path.join(os.environ.get("TRAFFICPIPE_DATA", "../shared"),
                                                     "data", "tracking", "mot17"))
    ap.add_argument("--seqs", default="MOT17-02-FRCNN,MOT17-04-FRCNN,MOT17-05-FRCNN,MOT17-09-FRCNN")
    ap.add_argument("--seq-dets", nargs=2, metavar=("SEQ", "DETS"), default=None,
                    help="instead: one sequence folder and a det.txt (e.g. eval-track's dets/<seq>.txt); scored as "
                         "MOT15 when its gt has no classes")
    ap.add_argument("--set", action="append", default=[], help="our TrackerConfig key=value")
    ap.add_argument("--no-theirs", action="store_true")
    ap.add_argument("--tracker", default="bytetrack", choices=("bytetrack", "ocsort"),
                    help="ours and theirs: ByteTrack, or OC-SORT (trackers' OCSORTTracker)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    kw = {}
    for s in a.set:
        k, v = s.split("=")
        kw[k] = float(v)
    if a.tracker == "ocsort":
        from trafficpipe.tracking.ocsort import OCSortConfig
        cfg = OCSortConfig(**kw)
    else:
        cfg = TrackerConfig(**kw)
    if a.seq_dets:
        from trafficpipe.tracking.scores import gt_benchmark
        seqs = [tuple(a.seq_dets)]
        bench = gt_benchmark(read_mot_rows(os.path.join(a.seq_dets[0], "gt", "gt.txt")))
    else:
        seqs = [(os.path.join(a.mot17, s), None) for s in a.seqs.split(",")]
        bench = "MOT17"
    res = compare(seqs, cfg, theirs=not a.no_theirs, benchmark=bench, tracker=a.tracker)
    for name, per in res.items():
        for seq, r in sorted(per.items()):
            print("%-9s %-16s " % (name, seq) + " ".join("%s %.1f" % (k, r[k]) if k != "IDSW" else "IDSW %d" % r[k]
                                                        for k in ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW")))
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"what": "ours and trackers' %s on the same detections, scored by TrackEval 1.3.0 (%s)"
                               % ("OC-SORT" if a.tracker == "ocsort" else "ByteTrack", bench), "command": " ".join(["python"] + sys.argv),
                       "machine": "CPU, 2 cores (shared); trackeval 1.3.0, trackers 2.6.1", "ours_config": cfg.as_dict(), "tracker": a.tracker,
                       "theirs": "trackers %s defaults" % ("OCSORTTracker" if a.tracker == "ocsort" else "ByteTrackTracker"),
                       "results": res}, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
