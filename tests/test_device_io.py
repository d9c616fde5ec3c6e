"""Device I/O (uint8 image in, ranked candidates out) computed by torch on the CPU: the same detections as the
numpy adapters on ONNX Runtime, for every shipped model family, in landscape and portrait frames."""
import cv2
import numpy as np
import pytest

from trafficpipe.detector import Detector
from trafficpipe.models.device_io import DeviceIOAdapter, supports_device_io
from trafficpipe.models.nms import box_iou

torch = pytest.importorskip("torch")


MODELS = ("yolox-nano", "picodet-s-416", "picodet-s-320", None)  # None: the default (trained, 5 own classes)


def _frames(path, every=15, n=3):
    cap = cv2.VideoCapture(path)
    out, i = [], 0
    while len(out) < n:
        ok, img = cap.read()
        assert ok
        if i % every == 0:
            out.append(img)
        i += 1
    cap.release()
    return out


def _device_io(det, classes=None):
    from trafficpipe.engines.torch_device_io import DeviceIO
    from trafficpipe.engines.torch_model import TorchModel
    model = TorchModel(det.model_path, torch.device("cpu"))
    io = DeviceIO(torch, det.adapter, torch.device("cpu"))
    model.io = io
    return model, DeviceIOAdapter(det.adapter, io.top_k, io.pairs)


def _detect(model, view, images):
    x = np.zeros((len(images),) + view.input_shape, np.uint8)
    metas = [view.preprocess(img, x[i]) for i, img in enumerate(images)]
    out = torch.zeros((len(images), view.top_k, 6))
    with torch.no_grad():
        model.run_into(torch.as_tensor(x), [out])
    return [view.postprocess([out[i].numpy()], m) for i, m in enumerate(metas)]


def _assert_same(a, b):
    assert len(a) == len(b)
    if len(a):
        assert box_iou(a.boxes, b.boxes).max(1).min() > 0.999
        np.testing.assert_array_equal(a.class_ids, b.class_ids)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)


@pytest.mark.parametrize("model", MODELS)
def test_device_io_gives_the_numpy_detections(model, video_720p):
    with Detector(model) as det:
        assert supports_device_io(det.adapter)
        tm, view = _device_io(det)
        assert view.input.dtype == np.uint8 and view.input_shape == (det.adapter.height, det.adapter.width, 3)
        frames = _frames(video_720p)
        portrait = [np.ascontiguousarray(cv2.rotate(f, cv2.ROTATE_90_CLOCKWISE)) for f in frames[:1]]
        images = frames + portrait
        got = _detect(tm, view, images)
        ref = [det.detect(img) for img in images]
    assert sum(len(d) for d in ref) > 10  # the clip has traffic: a comparison of empty lists proves nothing
    for a, b in zip(ref, got):
        _assert_same(a, b)


def test_device_io_keeps_the_class_selection(video_720p):
    """--classes vehicle: only vehicles come out of the device ranking, the ones the numpy path keeps."""
    with Detector("yolox-nano", classes="vehicle") as det:
        tm, view = _device_io(det)
        img = _frames(video_720p, n=1)[0]
        got = _detect(tm, view, [img])[0]
        ref = det.detect(img)
    assert len(ref) > 0 and set(got.class_ids.tolist()) == {0}
    _assert_same(ref, got)


def test_a_full_candidate_list_is_reported(video_720p):
    """When every one of the top_k candidates passes the threshold, more may have been cut: the adapter says so."""
    with Detector("yolox-nano", conf=0.0) as det:
        tm, view = _device_io(det)
        from trafficpipe.engines.torch_device_io import DeviceIO
        io = DeviceIO(torch, det.adapter, torch.device("cpu"), top_k=50)
        tm.io = io
        small = DeviceIOAdapter(det.adapter, io.top_k, io.pairs)
        dets = _detect(tm, small, _frames(video_720p, n=1))
    assert small.saturated == 1 and len(dets[0]) > 0


def test_yolox_u8_input_is_the_float_input(video_720p):
    """The uint8 buffer holds exactly the pixels the float path feeds (resize, 114 padding), in both orientations."""
    with Detector("yolox-nano") as det:
        ad = det.adapter
        img = _frames(video_720p, n=1)[0]
        for im in (img, np.ascontiguousarray(cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE))):
            u8 = np.full((ad.height, ad.width, 3), 7, np.uint8)
            f32 = np.zeros(ad.input_shape, np.float32)
            assert ad.preprocess_u8(im, u8) == ad.preprocess(im, f32)
            np.testing.assert_array_equal(u8.transpose(2, 0, 1).astype(np.float32), f32)


@pytest.mark.parametrize("model", ("yolox-nano", "picodet-s-416"))
def test_onnxruntime_device_io_graph_gives_the_same_detections(model, video_720p):
    """The ONNX form of device I/O (engines/onnx_device_io.py, also what TensorRT builds from) on ONNX Runtime."""
    frames = _frames(video_720p)
    with Detector(model) as plain, Detector(model, device_io=True) as wrapped:
        assert wrapped.engine.describe()["device_io"] is True and plain.engine.describe()["device_io"] is False
        assert wrapped.adapter.input.dtype == np.uint8 and [o.name for o in wrapped.engine.outputs] == ["candidates"]
        ref = [plain.detect(f) for f in frames]
        got = wrapped.detect_batch(frames)
    assert sum(len(d) for d in ref) > 10
    for a, b in zip(ref, got):
        _assert_same(a, b)


def test_cli_device_io_on_onnxruntime(video_360p, tmp_path):
    from cli_helpers import run_cli
    a = run_cli("detect", video_360p, "--out", tmp_path / "a", "--model", "picodet-s-320", "--save", "jsonl",
                "--max-frames", "40", "--device-io")
    b = run_cli("detect", video_360p, "--out", tmp_path / "b", "--model", "picodet-s-320", "--save", "jsonl",
                "--max-frames", "40")
    assert a.returncode == 0 and b.returncode == 0, a.stderr
    la = (tmp_path / "a" / "highway-360p.jsonl").read_text().splitlines()
    lb = (tmp_path / "b" / "highway-360p.jsonl").read_text().splitlines()
    assert len(la) == 40 and la == lb


@pytest.mark.parametrize("model,conf,max_det", [("yolox-nano", 0.3, 300), ("picodet-s-416", 0.3, 300),
                                                ("yolox-nano", 0.05, 3)], ids=("yolox", "picodet", "max-det"))
def test_a_slot_decoded_at_once_gives_each_frame_its_own_detections(model, conf, max_det, video_720p):
    """The postprocess stage decodes a whole slot with one NMS call (`postprocess_batch`): every frame gets exactly
    the detections `postprocess` gives it alone, also for frames of other sizes in the same slot, a frame with
    nothing in it, and where an image has more candidates than max_det (NMS then looks at its best max_det only, image
    by image as before)."""
    frames = _frames(video_720p, every=9, n=6)
    images = frames + [np.ascontiguousarray(cv2.rotate(frames[0], cv2.ROTATE_90_CLOCKWISE)),
                       np.zeros((200, 300, 3), np.uint8)]
    with Detector(model, device_io=True, conf=conf, max_det=max_det) as det:
        ad, names = det.adapter, det.output_names
        ctx = det.engine.create_context(1, len(images))
        slot = ctx.acquire()
        metas = [ad.preprocess(img, slot.host_inputs[ad.input.name][i]) for i, img in enumerate(images)]
        slot.size = len(images)
        ctx.run(slot)
        alone = [ad.postprocess(slot.output_list(names, i), m) for i, m in enumerate(metas)]
        together = ad.postprocess_batch([slot.host_outputs[n][:len(images)] for n in names], metas)
        ctx.release(slot)
    counts = [len(d) for d in alone]
    assert min(counts[:6]) > 0 and counts[-1] == 0
    if max_det < 300:
        assert 0 < max(counts) <= max_det
    assert [len(d) for d in together] == counts
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(a.class_ids, b.class_ids)
        assert a.boxes.dtype == b.boxes.dtype and a.class_ids.dtype == b.class_ids.dtype
