"""GPU-decoded frames on a machine without a GPU: the device-side resize against the host path's OpenCV resize (torch
runs it on the CPU here), and the one-line refusals of `--decoder nvdec`. The GPU side is tests/gpu/test_nvdec.py."""
import numpy as np
import pytest

from cli_helpers import read_frames, run_cli

try:
    import torch
except ImportError:  # the suite installs torch (CPU); a bare checkout may not have it
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed (pip install torch==2.13.0)")


@needs_torch
@pytest.mark.parametrize("model", ("picodet-s-416", "yolox-nano"))
def test_device_resize_writes_what_the_host_path_writes(model, video_720p):
    """For a real frame and each model family's fit (PicoDet: plain resize; YOLOX: keep ratio + pad 114), the
    device-side resize gives the uint8 model input of `preprocess_u8` within one level of rounding, pads included."""
    from trafficpipe import Detector
    from trafficpipe.engines.device_frames import resize_pad
    det = Detector(model, threads=1)
    try:
        adapter = det.adapter
        image = read_frames(video_720p, 1)[0]
        h, w = image.shape[:2]
        ref = np.zeros((adapter.height, adapter.width, 3), np.uint8)
        meta = adapter.preprocess_u8(image, ref)
        nw, nh, pad, fit_meta = adapter.fit_u8(w, h)
        assert fit_meta == meta
        out = torch.zeros((adapter.height, adapter.width, 3), dtype=torch.uint8)
        resize_pad(torch.from_numpy(image[..., ::-1].copy()), out, nw, nh, pad)  # RGB in, as NVDEC gives it
        diff = np.abs(out.numpy().astype(np.int16) - ref.astype(np.int16))
        assert diff.max() <= 1
        assert diff.mean() < 0.2
        if model == "yolox-nano":
            assert nh < adapter.height and (out.numpy()[nh:] == 114).all()
    finally:
        det.close()


def test_host_images_are_left_alone():
    from trafficpipe.engines.device_frames import host_image, is_device_image
    from trafficpipe.pipeline.frame import Frame
    img = np.zeros((4, 4, 3), np.uint8)
    f = Frame(0, 0, 0.0, img, 0.0)
    assert not is_device_image(img) and host_image(f) is img


def test_nvdec_without_its_library_is_one_line(video_360p, tmp_path):
    """Here there is no PyNvVideoCodec (or no GPU): one line naming what is missing and the way out, exit 2."""
    proc = run_cli("detect", video_360p, "--decoder", "nvdec", "--max-frames", "4", "--out", tmp_path,
                   "--no-progress")
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(err) == 1 and "--decoder nvdec needs" in err[0] and "--decoder opencv" in err[0], err


def test_a_cpu_engine_refuses_device_frames():
    from trafficpipe import Detector
    from trafficpipe.engines.device_frames import check_takes_device_frames
    from trafficpipe.errors import EngineError
    det = Detector("yolox-nano", threads=1)
    try:
        with pytest.raises(EngineError, match="needs --engine torch or tensorrt, not onnxruntime"):
            check_takes_device_frames(det)
    finally:
        det.close()


def test_missing_source_with_nvdec_says_so(tmp_path):
    proc = run_cli("detect", tmp_path / "nope.mp4", "--decoder", "nvdec", "--out", tmp_path, "--no-progress")
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1 and "does not exist" in err[0], err
