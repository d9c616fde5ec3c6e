"""AP50 of one class, on one source of a labeled set, when the detections of several models are merged: each model
run once (the same detector as `trafficpipe eval`, no tiles), every subset of two or more models merged by weighted
boxes fusion (`ensemble_boxes`, Solovyev et al.) at a few IoU thresholds, or by the per-class NMS. Prints and writes
one JSON line per setting, with each subset's summed ms an image.

Needs `pip install ensemble_boxes`. Usage:
  python tools/ensemble_sweep.py DATASET [--models shipped,yolox-nano,PATH.onnx] [--source road_sign_kaggle]
                                 [--cls traffic_light] [--out OUT.jsonl]
"""
import argparse
import itertools
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from tta_sweep import merge, source_images  # noqa: E402
from trafficpipe.detector import Detector  # noqa: E402
from trafficpipe.eval.scoring import score_detections  # noqa: E402
from trafficpipe.models.classes import TRAFFIC_CLASSES  # noqa: E402

DATA = os.environ.get("TRAFFICPIPE_DATA", os.path.join(os.path.dirname(HERE), "..", "shared"))
DEFAULT_MODELS = "shipped,yolox-nano,%s" % os.path.join(DATA, "models", "picodet_s_416_coco.onnx")
WBF_IOUS = (0.4, 0.55, 0.7)


def run_model(model, images, conf):
    """[(boxes, scores, class ids) per image] of one model, and its median ms an image."""
    rows, times = [], []
    with Detector(model=None if model == "shipped" else model, conf=conf) as det:
        for img in images:
            t0 = time.perf_counter()
            d = det.detect(img)
            times.append(time.perf_counter() - t0)
            rows.append((d.boxes.astype(np.float64), d.scores.astype(np.float64), d.class_ids.astype(np.int64)))
    return rows, 1000.0 * float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated: shipped, a registry name or an ONNX path")
    ap.add_argument("--source", default="road_sign_kaggle")
    ap.add_argument("--cls", default="traffic_light", choices=TRAFFIC_CLASSES)
    ap.add_argument("--conf", type=float, default=0.001)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    dataset, picked, images, shapes = source_images(args.dataset, args.source)
    names = args.models.split(",")
    runs, ms = {}, {}
    for name in names:
        runs[name], ms[name] = run_model(name, images, args.conf)
        sys.stderr.write("%s: %.1f ms an image\n" % (os.path.basename(name), ms[name]))
    empty = (np.zeros((0, 4)), np.zeros((0,)), np.zeros((0,), np.int64))

    def score(keys, how, iou):
        dets = [empty] * len(dataset.images)
        for j, i in enumerate(picked):
            dets[i] = merge([runs[k][j] for k in keys], shapes[j], how, wbf_iou=iou)
        res = score_detections(dataset, dets, classes=[args.cls])
        return res.sources[args.source]["classes"][args.cls]

    settings = [((n,), "single", None) for n in names]
    for r in range(2, len(names) + 1):
        for keys in itertools.combinations(names, r):
            settings += [(keys, "wbf", iou) for iou in WBF_IOUS] + [(keys, "nms", None)]
    for keys, how, iou in settings:
        fig = score(keys, how, iou)
        rec = {"models": [os.path.basename(k) for k in keys], "source": args.source, "cls": args.cls, "gt": fig["gt"],
               "merge": how, "wbf_iou": iou, "ap50": round(fig["ap50"], 4),
               "ms_per_image": round(sum(ms[k] for k in keys), 1)}
        sys.stdout.write("%-70s %-6s %-4s AP50 %.3f  %6.1f ms\n" % (" + ".join(rec["models"]), how, iou or "",
                                                                  rec["ap50"], rec["ms_per_image"]))
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
