"""AP50 of one class under a stricter suppression of that class's boxes than the model's per-class NMS: greedy, by
score, a box goes when its IoU with a kept box of the class exceeds T ("iou"), or when more than T of its own area lies
inside one ("inside"); under a looser model NMS (IoU above the default 0.45, one more detection pass each); and
under Soft-NMS (Bodla et al.: overlapping boxes of the class lose score instead of going, linear or Gaussian) over
one more pass whose model NMS keeps all but near-identical boxes (IoU 0.95); and under box voting over that pass
(merge-NMS: greedy NMS at 0.45 whose kept box is the score-weighted mean of the best few boxes around it).
Detections as `trafficpipe eval` makes them with its defaults; one JSON line per setting.

Usage: python tools/class_nms_sweep.py DATASET [--cls traffic_light] [--model M] [--out OUT.jsonl] [--only voting]
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
SOFT = [("linear", t, 0.5) for t in (0.3, 0.45, 0.6)] + [("gaussian", 0.5, s) for s in (0.1, 0.2, 0.3, 0.5)]
SOFT_PASS_IOU = 0.95  # the model NMS under Soft-NMS and box voting: only near-identical boxes go
#: box voting settings: (NMS IoU, vote IoU or None for plain greedy NMS, the best n boxes that vote)
VOTING = [(0.45, None, 1)] + [(0.45, v, n) for v in (0.55, 0.65, 0.75) for n in (1000, 5)]


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


def soft_suppress(dets, k, method, iou_thr, sigma):
    """`dets` with class `k`'s boxes rescored by Soft-NMS (Bodla et al., their reference loop): greedily by score,
    each later box's score is multiplied by 1 - IoU where IoU > `iou_thr` ("linear") or by exp(-IoU^2 / `sigma`)
    ("gaussian"); boxes under 0.001 go. (`ensemble_boxes.soft_nms` returns the boxes it keeps with their scores
    before the decay, so it cannot serve here.)"""
    boxes, scores, ids = dets
    mine = ids == k
    b, s = boxes[mine], scores[mine].astype(np.float64)
    out_b, out_s = [], []
    while len(s):
        i = int(s.argmax())
        out_b.append(b[i])
        out_s.append(s[i])
        rest = np.arange(len(s)) != i
        iou = box_iou(b[i:i + 1], b[rest])[0]
        b, s = b[rest], s[rest]
        s = s * (np.where(iou > iou_thr, 1 - iou, 1) if method == "linear" else np.exp(-iou ** 2 / sigma))
        b, s = b[s > 0.001], s[s > 0.001]
    nb = np.array(out_b, boxes.dtype).reshape(-1, 4)
    return (np.vstack([boxes[~mine], nb]), np.concatenate([scores[~mine], np.array(out_s, scores.dtype)]),
            np.concatenate([ids[~mine], np.full(len(out_s), k, ids.dtype)]))


def vote_suppress(dets, k, nms_iou, vote_iou, best_n):
    """`dets` with class `k`'s boxes through greedy NMS at `nms_iou` where each kept box becomes the score-weighted
    mean of the best `best_n` boxes of the class whose IoU with it is at least `vote_iou` (itself included); plain
    greedy NMS for `vote_iou` None."""
    boxes, scores, ids = dets
    mine = ids == k
    order = np.argsort(-scores[mine], kind="stable")
    b, s = boxes[mine][order].astype(np.float64), scores[mine][order].astype(np.float64)
    alive = np.ones(len(s), bool)
    out_b, out_s = [], []
    for i in range(len(s)):
        if not alive[i]:
            continue
        iou = box_iou(b[i:i + 1], b)[0]
        voters = np.flatnonzero(iou >= vote_iou)[:best_n] if vote_iou is not None else np.array([i])
        w = s[voters]
        out_b.append((b[voters] * w[:, None]).sum(0) / w.sum())
        out_s.append(s[i])
        alive &= iou <= nms_iou
    nb = np.array(out_b, boxes.dtype).reshape(-1, 4)
    return (np.vstack([boxes[~mine], nb]), np.concatenate([scores[~mine], np.array(out_s, scores.dtype)]),
            np.concatenate([ids[~mine], np.full(len(out_s), k, ids.dtype)]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("--cls", default="traffic_light", choices=TRAFFIC_CLASSES)
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", choices=("voting",), default=None, help="only the box-voting settings")
    args = ap.parse_args()
    dataset = load_labeled_set(args.dataset)
    rows = [] if args.only else model_nms_rows(dataset, args)
    with Detector(model=args.model, conf=0.001, iou=SOFT_PASS_IOU) as det:
        dense = evaluate(dataset, det, tiles=TilePlan(), classes=[args.cls])
    dense_dets = [as_arrays(d) for d in dense.detections]
    k = TRAFFIC_CLASSES.index(args.cls)
    if not args.only:
        for method, iou_thr, sigma in SOFT:
            rescored = [soft_suppress(d, k, method, iou_thr, sigma) for d in dense_dets]
            scored = score_detections(dataset, rescored, classes=[args.cls])
            label = ("soft-NMS linear, IoU %.2f" % iou_thr if method == "linear"
                     else "soft-NMS gaussian, sigma %.1f" % sigma)
            rows.append({"cls": args.cls, "suppression": label, "ap50": scored.classes[args.cls].ap50})
    for nms_iou, vote_iou, best_n in VOTING:
        voted = [vote_suppress(d, k, nms_iou, vote_iou, best_n) for d in dense_dets]
        scored = score_detections(dataset, voted, classes=[args.cls])
        n = best_n if best_n < 1000 else "all"
        label = ("greedy NMS %.2f over the IoU %.2f pass" % (nms_iou, SOFT_PASS_IOU) if vote_iou is None else
                 "box voting: NMS %.2f, vote IoU %.2f, best %s" % (nms_iou, vote_iou, n))
        rows.append({"cls": args.cls, "suppression": label, "ap50": scored.classes[args.cls].ap50})
    for row in rows:
        sys.stdout.write("%-48s AP50 %.4f\n" % (row["suppression"], row["ap50"]))
    if args.out:
        with open(args.out, "a") as f:
            f.writelines(json.dumps(row) + "\n" for row in rows)


def model_nms_rows(dataset, args):
    """The rows of the model's NMS, of a stricter suppression after it, and of a looser model NMS."""
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
    return rows


if __name__ == "__main__":
    try:
        main()
    except TrafficpipeError as e:
        sys.exit("class_nms_sweep: error: %s" % e)
