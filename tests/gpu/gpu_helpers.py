"""Shared helpers of the GPU tests (figures report, detection matching, availability)."""
import json
import os

import numpy as np

from trafficpipe.paths import data_dir

VIDEO = os.path.join(data_dir(), "videos", "highway-720p.mp4")


def gpu_skip_reason():
    """Why the GPU tests cannot run here, or None."""
    try:
        import pycuda.driver  # noqa: F401
    except ImportError as e:
        return "pycuda is not importable (%s): GPU tests run on the GPU machine (bench/gpu.sh)" % e
    try:
        import torch
    except ImportError:
        return "torch is not installed: GPU tests run on the GPU machine (bench/gpu.sh)"
    if not torch.cuda.is_available():
        return "no CUDA GPU visible to torch"
    try:
        import onnx2torch  # noqa: F401
    except ImportError as e:
        return "onnx2torch is not importable (%s)" % e
    if not os.path.isfile(VIDEO):
        return "shared video %s missing" % VIDEO
    return None


def report(name, **figures):
    """Record measured figures (and print them, for -s runs)."""
    rec = dict(test=name, **figures)
    path = os.environ.get("TRAFFICPIPE_GPU_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(rec) + "\n")
    print("GPU-FIGURES %s" % json.dumps(rec))


def match_detections(a, b, iou_min=0.9):
    """Fraction of boxes of `a` with a same-class box in `b` at IoU >= iou_min (1.0 when both are empty)."""
    from trafficpipe.models.nms import box_iou
    if len(a) == 0 and len(b) == 0:
        return 1.0
    if len(a) == 0 or len(b) == 0:
        return 0.0
    iou = box_iou(a.boxes, b.boxes)
    same = a.class_ids[:, None] == b.class_ids[None, :]
    return float(np.mean(((iou >= iou_min) & same).any(1)))
