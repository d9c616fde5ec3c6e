"""AP50 of one class, on one source of a labeled set, under test-time augmentation: the model run at several input
sizes (the same weights, `tools/resize_input.py`) and mirrored, the passes merged by weighted boxes fusion
(`ensemble_boxes`, Solovyev et al.) or by the model's per-class NMS. Prints and writes one JSON line per setting:
single passes, each size with its mirror, and each pair of sizes (with and without mirrors).

Needs `pip install ensemble_boxes`. Usage:
  python tools/tta_sweep.py DATASET [--source road_sign_kaggle] [--cls traffic_light] [--sizes 320,416,480,576]
                            [--model M] [--out OUT.jsonl]
"""
import argparse
import itertools
import json
import os
import sys
import tempfile
import time

import cv2
import numpy as np
import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from resize_input import resize  # noqa: E402
from trafficpipe.detector import Detector  # noqa: E402
from trafficpipe.eval.scoring import score_detections  # noqa: E402
from trafficpipe.eval.sets import load_labeled_set  # noqa: E402
from trafficpipe.models.classes import TRAFFIC_CLASSES  # noqa: E402
from trafficpipe.models.nms import batched_nms  # noqa: E402
from trafficpipe.models.registry import find_model  # noqa: E402

IOU = 0.45  # the model's per-class NMS IoU
WBF_IOU = 0.55  # ensemble_boxes' default


def run_passes(model_path, side, images, conf):
    """{mirrored: [(boxes, scores, class ids) per image]} and the median ms per image of the model at side x side."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model-%d.onnx" % side)
        onnx.save(resize(onnx.load(model_path), side, side), path)
        out, times = {}, []
        with Detector(model=path, conf=conf) as det:
            for mirrored in (False, True):
                rows = []
                for img in images:
                    view = img[:, ::-1].copy() if mirrored else img
                    t0 = time.perf_counter()
                    d = det.detect(view)
                    times.append(time.perf_counter() - t0)
                    boxes = d.boxes.astype(np.float64)
                    if mirrored:
                        boxes[:, [0, 2]] = img.shape[1] - boxes[:, [2, 0]]
                    rows.append((boxes, d.scores.astype(np.float64), d.class_ids.astype(np.int64)))
                out[mirrored] = rows
    return out, 1000.0 * float(np.median(times))


def merge(parts, size, how, wbf_iou=WBF_IOU):
    """One image's detections of several passes merged: "wbf" (weighted boxes fusion at IoU `wbf_iou`) or "nms"."""
    if len(parts) == 1:
        return parts[0]
    if how == "nms":
        b, s, c = (np.concatenate([p[i] for p in parts]) for i in range(3))
        keep = batched_nms(b, s, c, IOU)
        return b[keep], s[keep], c[keep]
    from ensemble_boxes import weighted_boxes_fusion
    w, h = size
    scale = np.array([w, h, w, h], np.float64)
    b, s, c = weighted_boxes_fusion([np.clip(p[0] / scale, 0, 1).tolist() for p in parts],
                                    [p[1].tolist() for p in parts], [p[2].tolist() for p in parts],
                                    iou_thr=wbf_iou, skip_box_thr=0.0)
    return np.asarray(b).reshape(-1, 4) * scale, np.asarray(s, np.float64), np.asarray(c, np.int64)


def source_images(path, source):
    """(labeled set, indices of its images of `source`, those images, their (width, height)); exits where none."""
    dataset = load_labeled_set(path)
    picked = [i for i, im in enumerate(dataset.images) if im.source == source]
    if not picked:
        raise SystemExit("%s has no images of source %r" % (path, source))
    images = [cv2.imread(dataset.images[i].path) for i in picked]
    return dataset, picked, images, [(img.shape[1], img.shape[0]) for img in images]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("--source", default="road_sign_kaggle")
    ap.add_argument("--cls", default="traffic_light", choices=TRAFFIC_CLASSES)
    ap.add_argument("--sizes", default="320,352,416,480,544,576,640")
    ap.add_argument("--model", default=None, help="a PicoDet ONNX file (default: the shipped model)")
    ap.add_argument("--conf", type=float, default=0.001)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    dataset, picked, images, shapes = source_images(args.dataset, args.source)
    sizes = [int(s) for s in args.sizes.split(",")]
    model = find_model(args.model)
    passes, ms = {}, {}
    for side in sizes:
        runs, ms[side] = run_passes(model, side, images, args.conf)
        for mirrored, rows in runs.items():
            passes[(side, mirrored)] = rows
        sys.stderr.write("%d: %.1f ms an image\n" % (side, ms[side]))
    empty = (np.zeros((0, 4)), np.zeros((0,)), np.zeros((0,), np.int64))

    def score(keys, how):
        dets = [empty] * len(dataset.images)
        for j, i in enumerate(picked):
            dets[i] = merge([passes[k][j] for k in keys], shapes[j], how)
        res = score_detections(dataset, dets, classes=[args.cls])
        return res.sources[args.source]["classes"][args.cls]

    settings = [([(s, m)], "single") for s in sizes for m in (False, True)]
    for how in ("wbf", "nms"):
        settings += [([(s, False), (s, True)], how) for s in sizes]
        for a, b in itertools.combinations(sizes, 2):
            settings += [([(a, False), (b, False)], how), ([(a, False), (b, False), (a, True), (b, True)], how)]
    for keys, how in settings:
        fig = score(keys, how)
        rec = {"model": os.path.basename(model), "source": args.source, "cls": args.cls, "gt": fig["gt"],
               "passes": ["%d%s" % (s, "-mirrored" if m else "") for s, m in keys], "merge": how,
               "ap50": round(fig["ap50"], 4), "ms_per_image": round(sum(ms[s] for s, _ in keys), 1)}
        sys.stdout.write("%-60s %-6s AP50 %.3f  %6.1f ms\n" % (" + ".join(rec["passes"]), how, rec["ap50"],
                                                              rec["ms_per_image"]))
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
