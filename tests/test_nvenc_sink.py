"""The annotated-video writer choice: NVENC where PyNvVideoCodec and an NVENC engine are there, else OpenCV."""
import pytest

from cli_helpers import read_frames, run_cli
from trafficpipe.errors import SinkError
from trafficpipe.sinks import nvenc
from trafficpipe.sinks.files import VideoSink, video_sink


def test_auto_falls_back_to_opencv_and_nvenc_fails_in_one_line(tmp_path):
    ok, why = nvenc.nvenc_available()
    if ok:
        pytest.skip("this machine has NVENC (the GPU suite covers it)")
    assert why
    try:
        nvenc.set_video_encoder("auto")
        assert isinstance(video_sink(str(tmp_path / "a.mp4"), 30.0, (64, 48)), VideoSink)
        nvenc.set_video_encoder("nvenc")
        with pytest.raises(SinkError, match="--video-encoder nvenc: .*use --video-encoder opencv"):
            video_sink(str(tmp_path / "b.mp4"), 30.0, (64, 48))
    finally:
        nvenc.set_video_encoder("auto")


def test_detect_writes_annotated_video_through_the_fallback(video_360p, tmp_path):
    r = run_cli("detect", video_360p, "--model", "picodet-s-320", "--threads", "1", "--max-frames", "5",
                "--save", "video", "--out", tmp_path, "--no-progress")
    assert r.returncode == 0, r.stderr
    frames = read_frames(tmp_path / "highway-360p.mp4")
    assert len(frames) == 5 and frames[0].shape == (360, 640, 3)
    if not nvenc.nvenc_available()[0]:
        r = run_cli("detect", video_360p, "--model", "picodet-s-320", "--max-frames", "2", "--save", "video",
                    "--out", tmp_path / "x", "--no-progress", "--video-encoder", "nvenc")
        assert r.returncode != 0 and "--video-encoder nvenc" in r.stderr and "Traceback" not in r.stderr
