"""Grid over our ByteTrack settings, tracker-only on MOT17 public detections (and, to check, one more det file).

    python tools/track_tune.py [--check SEQ DETS] > tune.txt
"""
import argparse
import itertools
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from track_compare import compare  # noqa: E402
from trafficpipe.tracking import TrackerConfig  # noqa: E402
from trafficpipe.tracking.motdata import read_mot_rows  # noqa: E402
from trafficpipe.tracking.scores import gt_benchmark  # noqa: E402

GRID = {"high": (0.5, 0.6), "new_margin": (0.1, 0.2), "match_iou": (0.1, 0.2), "buffer_s": (1.0, 2.0)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mot17", default=os.path.join(os.environ.get("TRAFFICPIPE_DATA", "../shared"),
                                                     "data", "tracking", "mot17"))
    ap.add_argument("--check", nargs=2, default=None, metavar=("SEQ", "DETS"))
    a = ap.parse_args()
    seqs = [(os.path.join(a.mot17, s), None) for s in
            ("MOT17-02-FRCNN", "MOT17-04-FRCNN", "MOT17-05-FRCNN", "MOT17-09-FRCNN")]
    keys = sorted(GRID)
    for vals in itertools.product(*(GRID[k] for k in keys)):
        kw = dict(zip(keys, vals))
        r = compare(seqs, TrackerConfig(**kw), theirs=False)["ours"]["COMBINED_SEQ"]
        row = {"config": kw, "mot17": r}
        if a.check:
            bench = gt_benchmark(read_mot_rows(os.path.join(a.check[0], "gt", "gt.txt")))
            row["check"] = compare([tuple(a.check)], TrackerConfig(**kw), theirs=False, benchmark=bench)["ours"][
                "COMBINED_SEQ"]
        print(json.dumps(row, sort_keys=True))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
