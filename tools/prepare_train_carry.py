"""Stage a training run for a GPU host into .train-carry/ (git-ignored), small enough to copy there (under 64 MiB).

- data/traffic-train: the training images downscaled to <= --train-side px on the long side (JPEG --quality), boxes
  and ignore regions scaled with them;
- data/traffic-dev: the validation images resized to the model's square input (the PicoDet adapter resizes them so
  anyway; IoU, hence AP50, is unchanged by the per-axis scaling), annotations scaled; with --val-wide-ratio R, frames
  at least R times wider than high keep their size, so that tiled inference scores them there as here;
- models/picodet_s_416_coco.onnx: the base model, already cleaned (no onnxslim is needed there);
- wheels/: onnx2torch and loguru from $TRAFFICPIPE_DATA/gpu/wheels.

Usage (from the project root): python tools/prepare_train_carry.py; then copy the repo with .train-carry/ to the GPU host.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from trafficpipe.engines.onnx_graph import cleaned_model_path  # noqa: E402
from trafficpipe.paths import data_dir  # noqa: E402


def scale_record(rec, sx, sy, w, h):
    out = dict(rec)
    out["width"], out["height"] = w, h
    out["boxes"] = [dict(b, xyxy=[round(b["xyxy"][0] * sx, 2), round(b["xyxy"][1] * sy, 2), round(b["xyxy"][2] * sx, 2),
                                  round(b["xyxy"][3] * sy, 2)]) for b in rec.get("boxes", [])]
    if rec.get("ignore_regions"):
        out["ignore_regions"] = [[round(r[0] * sx, 2), round(r[1] * sy, 2), round(r[2] * sx, 2), round(r[3] * sy, 2)]
                                 for r in rec["ignore_regions"]]
    return out


def stage_dataset(src, dst, quality, max_side=None, square=None, wide_ratio=0.0, fmt="jpg"):
    with open(os.path.join(src, "annotations.json")) as f:
        doc = json.load(f)
    images = []
    for rec in doc["images"]:
        img = cv2.imread(os.path.join(src, rec["image"]), cv2.IMREAD_COLOR)
        h, w = img.shape[:2]
        q = quality
        if square and wide_ratio and w >= wide_ratio * h:  # a frame tiled at inference: kept at its own size
            nw, nh = w, h
            q = max(quality, 90)  # small objects: little compression
        elif square:
            nw = nh = square
            img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
        else:
            r = min(1.0, max_side / float(max(h, w)))
            nw, nh = int(round(w * r)), int(round(h * r))
            if r < 1.0:
                img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
        name = os.path.splitext(rec["image"])[0] + "." + fmt
        path = os.path.join(dst, name)
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path))
        flag = cv2.IMWRITE_WEBP_QUALITY if fmt == "webp" else cv2.IMWRITE_JPEG_QUALITY
        cv2.imwrite(path, img, [flag, q])
        images.append(dict(scale_record(rec, nw / float(w), nh / float(h), nw, nh), image=name))
    doc = dict(doc, images=images)
    with open(os.path.join(dst, "annotations.json"), "w") as f:
        json.dump(doc, f)
    return len(images)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, ".train-carry"))
    ap.add_argument("--train-side", type=int, default=512)
    ap.add_argument("--train-quality", type=int, default=80)
    ap.add_argument("--val-size", type=int, default=416)
    ap.add_argument("--val-quality", type=int, default=85)
    ap.add_argument("--format", default="jpg", choices=("jpg", "webp"), help="image format of the staged copies")
    ap.add_argument("--val-wide-ratio", type=float, default=0.0,
                    help="validation images at least this many times wider than high keep their size (tiled "
                         "inference sees them so; e.g. 2 for KITTI); 0 = all resized")
    args = ap.parse_args()
    shared = data_dir()
    exclude = os.path.join(ROOT, ".git", "info", "exclude")
    line = "/" + os.path.basename(args.out) + "/"
    have = open(exclude).read().split() if os.path.isfile(exclude) else []
    if line not in have and os.path.isdir(os.path.dirname(exclude)):
        with open(exclude, "a") as f:
            f.write(line + "\n")
    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    n = stage_dataset(os.path.join(shared, "data", "traffic-train"), os.path.join(args.out, "data", "traffic-train"),
                      args.train_quality, max_side=args.train_side, fmt=args.format)
    m = stage_dataset(os.path.join(shared, "data", "traffic-dev"), os.path.join(args.out, "data", "traffic-dev"),
                      args.val_quality, square=args.val_size, wide_ratio=args.val_wide_ratio, fmt=args.format)
    os.makedirs(os.path.join(args.out, "models"))
    shutil.copy(cleaned_model_path(os.path.join(shared, "models", "picodet_s_416_coco.onnx")),
                os.path.join(args.out, "models", "picodet_s_416_coco.onnx"))
    os.makedirs(os.path.join(args.out, "wheels"))
    for pat in ("onnx2torch-*.whl", "loguru-*.whl"):
        for w in glob.glob(os.path.join(shared, "gpu", "wheels", pat)):
            shutil.copy(w, os.path.join(args.out, "wheels"))
    size = subprocess.check_output(["du", "-sh", args.out]).decode().split()[0]
    sys.stdout.write("staged %d train + %d dev images, base model, wheels in %s (%s)\n" % (n, m, args.out, size))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
