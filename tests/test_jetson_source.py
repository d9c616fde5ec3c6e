"""csi:// and --backend jetson through jetson_utils (a double: no Jetson here), and the CSI GStreamer fallback."""
import sys

import numpy as np
import pytest

from trafficpipe import Pipeline, RunConfig
from trafficpipe.sinks.base import Sink
from trafficpipe.sources.factory import csi_pipeline, open_source
from trafficpipe.sources.jetson import JetsonSource


class Collect(Sink):
    def __init__(self):
        self.dets = []

    def write(self, frame):
        self.dets.append((frame.index, frame.detections))


@pytest.fixture
def jetson(monkeypatch, video_360p):
    from doubles import fake_jetson_utils as ju
    monkeypatch.setitem(sys.modules, "jetson_utils", ju)
    monkeypatch.setattr(ju, "CLIP", video_360p)
    monkeypatch.setattr(ju, "TIMEOUT_EVERY", 0)
    monkeypatch.setattr(ju, "RAISE_ON_TIMEOUT", False)
    return ju


@pytest.mark.parametrize("raise_on_timeout", [False, True])
def test_csi_camera_through_jetson_utils_gives_the_same_detections(jetson, picodet320, video_360p, raise_on_timeout):
    jetson.TIMEOUT_EVERY = 7  # timeouts now and then: no frame is lost or duplicated
    jetson.RAISE_ON_TIMEOUT = raise_on_timeout
    src = open_source("csi://0")
    assert isinstance(src, JetsonSource) and src.live and (src.width, src.height) == (640, 360)
    cam, ref = Collect(), Collect()
    s = Pipeline([src], picodet320, RunConfig.defaults(max_frames=30), sinks=[[cam]]).run()  # a live camera, paced at 29.97 fps
    Pipeline([video_360p], picodet320, RunConfig.defaults(max_frames=30), sinks=[[ref]]).run()
    assert s.frames_in == 30 and s.frames_out + s.dropped == 30 and s.frames_out >= 10
    indices = [i for i, _ in cam.dets]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    by_index = dict(ref.dets)
    for i, a in cam.dets:  # RGB from the camera is turned back into BGR exactly: the file's detections, frame by frame
        b = by_index[i]
        np.testing.assert_array_equal(a.class_ids, b.class_ids)
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-4)
    assert jetson.opened[-1].streaming is False  # closed at the end


def test_jetson_backend_reads_a_file_to_its_end(jetson, picodet320, video_360p):
    src = open_source(video_360p, backend="jetson")
    assert not src.live
    seen = Collect()
    s = Pipeline([src], picodet320, sinks=[[seen]]).run()
    assert s.frames_out == 341 and src.state == "ended"


def test_csi_without_jetson_utils_uses_the_gstreamer_pipeline(monkeypatch):
    monkeypatch.setitem(sys.modules, "jetson_utils", None)  # import fails
    from trafficpipe.sources.factory import _make
    src = _make("csi://1", "auto", 1, 0.1, None)
    assert src.target == csi_pipeline(1) and "nvarguscamerasrc sensor-id=1" in src.target and src.live


def test_jetson_backend_without_jetson_utils_is_one_line(monkeypatch):
    from trafficpipe.errors import SourceError
    monkeypatch.setitem(sys.modules, "jetson_utils", None)
    with pytest.raises(SourceError, match="jetson_utils is not available"):
        open_source("csi://0", backend="jetson")
