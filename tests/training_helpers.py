"""Shared by the training tests: the shared data's training and dev sets, the COCO base models, and torch (optional)."""
import os

import pytest

from trafficpipe.paths import data_dir

PICODET = os.path.join(data_dir(), "models", "picodet_s_416_coco.onnx")
YOLOX = os.path.join(data_dir(), "models", "yolox_nano_416.onnx")
TRAIN = os.path.join(data_dir(), "data", "traffic-train")
DEV = os.path.join(data_dir(), "data", "traffic-dev")

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed (pip install torch==2.13.0 && "
                                                       "pip install --no-deps onnx2torch)")
