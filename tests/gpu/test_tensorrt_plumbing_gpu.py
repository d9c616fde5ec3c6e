"""The TensorRT engine's GPU plumbing on a real GPU with the real pycuda: pinned/device slot buffers, per-slot streams
with cross-stream event waits, device-to-device scratch copies for batch-1 plans, dynamic input shapes, and the INT8
calibrator's uploads. TensorRT itself cannot be installed on the GPU machine either, so the TensorRT *double* stands
in (tests/doubles/fake_tensorrt): it computes with ONNX Runtime on the CPU, reading its inputs from and writing its
outputs to the real device memory after the slot's queued work has finished."""
import os
import sys

import cv2
import numpy as np
import pytest

from gpu_helpers import report
from trafficpipe.paths import data_dir

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: the doubles package

MODELS = os.path.join(data_dir(), "models")
PICODET = os.path.join(MODELS, "picodet_s_416_coco.onnx")
PICODET_320 = os.path.join(MODELS, "picodet_s_320_coco.onnx")


@pytest.fixture(params=["8.2", "8.6", "10"])
def trt(request, monkeypatch):
    from doubles import fake_tensorrt
    mod = fake_tensorrt.make_module(request.param)
    monkeypatch.setitem(sys.modules, "tensorrt", mod)
    return mod


def _same(a, b):
    assert len(a) == len(b) and np.array_equal(np.sort(a.class_ids), np.sort(b.class_ids))
    oa, ob = np.argsort(-a.scores), np.argsort(-b.scores)
    assert np.allclose(a.boxes[oa], b.boxes[ob], atol=1e-2)


def test_slots_streams_and_scratch_copies(trt, tmp_path, frames):
    from doubles import fake_tensorrt
    from trafficpipe.detector import Detector
    from trafficpipe.engines.gpu_runtime import CudaRuntime
    rt = CudaRuntime.get(0)
    free0 = rt.mem_get_info()[0]
    with Detector(PICODET, engine="onnxruntime") as ref:
        want = [ref.detect(f) for f in frames[:6]]
    det = Detector(PICODET, engine="tensorrt", cache_dir=str(tmp_path))
    try:
        # a batch of 4 on a batch-1 plan: item by item through scratch buffers (memcpy_dtod_async on the slot stream)
        got = det.detect_batch(frames[:4])
        for g, w in zip(got, want):
            _same(g, w)
        # 3 slots in flight on 3 streams: each waits for the previous slot's event (Stream.wait_for_event)
        ctx = det.engine.create_context(3, 1)
        slots = [ctx.acquire() for _ in range(3)]
        metas = []
        for s, img in zip(slots, frames[3:6]):
            metas.append(det.adapter.preprocess(img, s.host_inputs["image"][0]))
            s.size = 1
            ctx.submit(s)
        for meta, w in zip(metas, want[3:6]):
            s = ctx.collect()
            _same(det.adapter.postprocess(s.output_list(det.output_names, 0), meta), w)
            ctx.release(s)
        n_detections = sum(len(w) for w in want)
    finally:
        det.close()
    free1 = rt.mem_get_info()[0]
    report("tensorrt_double_plumbing", generation=trt.__version__, detections=n_detections,
           device_mem_delta_mb=round((free0 - free1) / 1e6, 1), enqueues=fake_tensorrt.event_names(trt).count("enqueue"))
    assert n_detections > 0
    assert free0 - free1 < 64 << 20  # slot buffers, scratch buffers and streams were released


def test_dynamic_batch_plan(trt, tmp_path, frames):
    pytest.importorskip("onnx")
    from doubles import fake_tensorrt
    from trafficpipe.detector import Detector
    with Detector(PICODET, engine="onnxruntime") as ref:
        want = [ref.detect(f) for f in frames[:4]]
    with Detector(PICODET, engine="tensorrt", cache_dir=str(tmp_path), batch=4) as det:
        assert det.engine.dynamic_batch and det.engine.max_batch == 4
        got = det.detect_batch(frames[:4])
    for g, w in zip(got, want):
        _same(g, w)
    assert fake_tensorrt.event_names(trt).count("enqueue") == 1


def test_two_contexts_on_a_dynamic_plan(trt, tmp_path, frames):
    """Two execution contexts of batch 4 on one dynamic-batch plan, both in flight on their own streams: each takes its
    own optimization profile (set_optimization_profile_async with a real stream handle) where TensorRT 8.0-8.5
    needs one; outputs in real device memory sized from the shapes the context resolves."""
    pytest.importorskip("onnx")
    from doubles import fake_tensorrt
    from trafficpipe.detector import Detector
    with Detector(PICODET, engine="onnxruntime") as ref:
        want = [ref.detect(f) for f in frames[:8]]
    with Detector(PICODET, engine="tensorrt", cache_dir=str(tmp_path), batch=4, contexts=2) as det:
        ctxs = [det.engine.create_context(2, 4) for _ in range(2)]
        profiles = [c.profile for c in ctxs]
        slots, metas = [], []
        for c, part in zip(ctxs, (frames[:4], frames[4:8])):
            s = c.acquire()
            metas.append([det.adapter.preprocess(img, s.host_inputs["image"][i]) for i, img in enumerate(part)])
            s.size = len(part)
            c.submit(s)
            slots.append(s)
        got = []
        for c, s, ms in zip(ctxs, slots, metas):
            assert c.collect() is s
            got += [det.adapter.postprocess(s.output_list(det.output_names, i), m) for i, m in enumerate(ms)]
            c.release(s)
    for g, w in zip(got, want):
        _same(g, w)
    shared = trt.__version__.startswith("10") or trt.__version__.startswith("8.6")
    assert profiles == ([0, 0] if shared else [0, 1])
    report("tensorrt_double_two_contexts", generation=trt.__version__, profiles=profiles,
           enqueues=fake_tensorrt.event_names(trt).count("enqueue"))


def test_int8_calibrator_uploads(trt, tmp_path, frames):
    from doubles import fake_tensorrt
    from trafficpipe.engines.trt_build import obtain_plan
    calib = tmp_path / "calib"
    calib.mkdir()
    for i, f in enumerate(frames[:4]):
        cv2.imwrite(str(calib / ("%02d.jpg" % i)), f)
    data, path, side = obtain_plan(PICODET_320, "int8", calib=str(calib), cache_dir=str(tmp_path / "plans"))
    cal = fake_tensorrt.plan_info(data)["calibration"]
    report("tensorrt_double_calibration", generation=trt.__version__, batches=cal["batches"],
           absmax=round(cal["absmax"]["image"], 3))
    assert cal["batches"] == 4 and 1.5 < cal["absmax"]["image"] <= 2.65
