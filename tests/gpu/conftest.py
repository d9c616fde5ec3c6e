"""GPU tests: run on a machine with an NVIDIA GPU, pycuda, torch (CUDA) and onnx2torch (bench/gpu.sh); skipped elsewhere.

Measured figures (fp16 differences, memory before/after, throughput) are appended as JSON lines to
$TRAFFICPIPE_GPU_REPORT when it is set.
"""
import os

import cv2
import pytest

from gpu_helpers import VIDEO, gpu_skip_reason


def pytest_collection_modifyitems(config, items):
    reason = gpu_skip_reason()
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if os.path.abspath(str(item.fspath)).startswith(here):
            item.add_marker(pytest.mark.gpu)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def frames():
    """The first 16 frames of the 720p highway clip (BGR)."""
    cap = cv2.VideoCapture(VIDEO)
    out = []
    while len(out) < 16:
        ok, img = cap.read()
        if not ok:
            break
        out.append(img)
    cap.release()
    assert len(out) == 16
    return out
