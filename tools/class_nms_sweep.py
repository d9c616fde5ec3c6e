"""AP50 of one class under a stricter suppression of that class's boxes than the model's per-class NMS: greedy, by
score, a box goes when its IoU with a kept box of the class exceeds T ("iou"), or when more than T of its own area lies
inside one ("inside"); and under a looser model NMS (IoU above the default 0.45, one more detection pass each).
Detections as `trafficpipe eval` makes them with its defaults; one JSON line per setting.

Usage: python tools/class_nms_sweep.py DATASET [--cls traffic_light] [--model M] [--out OUT.jsonl]
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trafficpipe.detector import Detector  # noqa: E402
from trafficpipe.eval.matching import inside_fraction  # noqa: E402
from trafficpipe.eval.runner import evaluate  # noqa: E402
from trafficpipe.errors import TrafficpipeError  # noqa: E402
from trafficpipe.eval.scoring import as_arrays, score_detections  # noqa: E402
from trafficpipe.eval.sets import load_labeled_set  # noqa: E402
from trafficpipe.models.classes import TRAFFIC_CLASSES  # noqa: E402
from trafficpipe.models.nms import box_iou  # noqa: E402
from trafficpipe.models.tiling import TilePlan  # noqa: E402

SETTINGS = [("iou", t) for t in (0.4, 0.35, 0.3, 0.25, 0.2)] + [("inside", t) for t in (0.8, 0.7, 0.6, 0.5)]
LOOSER = (0.5, 0.55, 0.6, 0.7)  # model NMS IoU thresholds above the default


def suppress(dets, k, mode, threshold):
    """`dets` (boxes, scores, class ids) with class `k`'s boxes suppressed once more."""
    boxes, scores, ids = dets
    keep = np.ones(scores.shape[0], bool)
    kept = []
    for i in sorted(np.flatnonzero(ids == k), key=lambda j: -scores[j]):
        if kept:
            measure = box_iou if mode == "iou" else inside_fraction
            over = measure(boxes[i:i + 1], boxes[kept])[0]
            if over.max() > threshold:
                keep[i] = False
                continue
        kept.append(i)
    return boxes[keep], scores[keep], ids[keep]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("--cls", default="traffic_light", choices=TRAFFIC_CLASSES)
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    dataset = load_labeled_set(args.dataset)
    with Detector(model=args.model, conf=0.001) as det:
        res = evaluate(dataset, det, tiles=TilePlan())
    k = TRAFFIC_CLASSES.index(args.cls)
    dets = [as_arrays(d) for d in res.detections]
    rows = [{"cls": args.cls, "suppression": "model NMS only", "ap50": res.classes[args.cls].ap50}]
    for mode, threshold in SETTINGS:
        scored = score_detections(dataset, [suppress(d, k, mode, threshold) for d in dets], classes=[args.cls])
        rows.append({"cls": args.cls, "suppression": "%s > %.2f" % (mode, threshold),
                     "ap50": scored.classes[args.cls].ap50})
    for iou in LOOSER:
        with Detector(model=args.model, conf=0.001, iou=iou) as det:
            looser = evaluate(dataset, det, tiles=TilePlan(), classes=[args.cls])
        rows.append({"cls": args.cls, "suppression": "model NMS at IoU %.2f" % iou,
                     "ap50": looser.classes[args.cls].ap50})
    for row in rows:
        sys.stdout.write("%-26s AP50 %.4f\n" % (row["suppression"], row["ap50"]))
    if args.out:
        with open(args.out, "a") as f:
            f.writelines(json.dumps(row) + "\n" for row in rows)


if __name__ == "__main__":
    try:
        main()
    except TrafficpipeError as e:
        sys.exit("class_nms_sweep: error: %s" % e)
