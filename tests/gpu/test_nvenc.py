"""NVENC annotated video (`--video-encoder nvenc`, sinks/nvenc.py): the clip encoded on the GPU and read back.

Skipped where PyNvVideoCodec is missing or the GPU has no NVENC engine (H100 and H200 have none; the test then checks
that `auto` writes with OpenCV)."""
import cv2
import numpy as np
import pytest

from cli_helpers import read_frames
from gpu_helpers import report
from trafficpipe.sinks import nvenc
from trafficpipe.sinks.files import VideoSink, video_sink


class _F(object):
    def __init__(self, image):
        self.image = image


def test_nvenc_encodes_the_clip_or_auto_falls_back(frames, tmp_path):
    ok, why = nvenc.nvenc_available()
    path = str(tmp_path / "nv.mp4")
    sink = video_sink(path, 30.0, (frames[0].shape[1], frames[0].shape[0]))
    if not ok:
        assert isinstance(sink, VideoSink), why
        report("nvenc", available=False, why=why)
        pytest.skip("no NVENC here: %s" % why)
    assert isinstance(sink, nvenc.NvencVideoSink)
    for f in frames:
        sink.write(_F(f))
    sink.close()
    back = read_frames(path)
    assert len(back) == len(frames)
    psnr = [cv2.PSNR(a, b) for a, b in zip(frames, back)]
    report("nvenc", available=True, psnr_min=min(psnr), psnr_mean=float(np.mean(psnr)))
    assert min(psnr) > 30.0
