"""Running TensorRT engines (against the conformance double) through the GPU runtime's slot ring and the full
pipeline on a real video: the detections must be the ONNX Runtime engine's, on every API generation."""
import os

import cv2
import numpy as np
import pytest

from trafficpipe.errors import EngineError
from trt_support import (GENERATIONS, KITTI, PICODET, STREET, VIDEO, YOLOX, count, tiny_onnx, use_doubles)

pytest.importorskip("onnx")
FRAMES = 10


def _detector(tmp_path, model, engine="tensorrt", **kw):
    from trafficpipe.detector import Detector
    if engine == "tensorrt":
        kw.setdefault("cache_dir", str(tmp_path / "plans"))
    return Detector(model, engine=engine, **kw)


def _run(detector, sources, **kw):
    from trafficpipe.pipeline import Pipeline
    from trafficpipe.run_config import RunConfig
    got = {}

    def on_frame(f):
        d = f.detections
        got[(f.source_id, f.index)] = (d.boxes.copy(), d.scores.copy(), d.class_ids.copy())

    summary = Pipeline(sources, detector, RunConfig.defaults(max_frames=FRAMES, **kw), on_frame=on_frame).run()
    assert summary.frames_out == FRAMES * len(sources)
    return got


def _same(a, b):
    assert sorted(a) == sorted(b)
    n = 0
    for k in a:
        ba, sa, ca = a[k]
        bb, sb, cb = b[k]
        assert ba.shape == bb.shape and np.array_equal(ca, cb), k
        assert np.allclose(ba, bb, atol=1e-3) and np.allclose(sa, sb, atol=1e-5), k
        n += len(ca)
    return n


@pytest.fixture(scope="module")
def reference():
    """ONNX Runtime detections of the clips (computed once)."""
    from trafficpipe.detector import Detector
    out = {}
    for model in (PICODET, YOLOX):
        with Detector(model, engine="onnxruntime") as det:
            out[(model, 1)] = _run(det, [VIDEO])
            if model == PICODET:
                out[(model, 2)] = _run(det, [VIDEO, STREET])
    return out


@pytest.mark.parametrize("gen", GENERATIONS)
def test_pipeline_matches_onnxruntime(monkeypatch, tmp_path, reference, gen):
    trt = use_doubles(monkeypatch, gen)
    from doubles import fake_pycuda
    world = fake_pycuda.world(__import__("sys").modules["pycuda.driver"])
    det = _detector(tmp_path, PICODET)
    api = det.engine.io_api
    try:
        got = _run(det, [VIDEO])
    finally:
        det.close()
    assert api == ("bindings" if gen == "8.2" else "tensor")
    assert _same(got, reference[(PICODET, 1)]) > FRAMES  # boxes were found, and they are the same
    assert count(trt, "enqueue") == FRAMES and count(trt, "deserialize") == 1
    # every slot buffer, stream-side copy and pinned page was released; all async copies used pinned memory
    assert world.live_device_allocations() == 0 and world.live_host_allocations() == 0
    assert world.stats["unpinned_async_copies"] == 0


def test_yolox_on_tensorrt_8_2(monkeypatch, tmp_path, reference):
    use_doubles(monkeypatch, "8.2")
    with _detector(tmp_path, YOLOX) as det:
        assert _same(_run(det, [VIDEO]), reference[(YOLOX, 1)]) > FRAMES


@pytest.mark.parametrize("gen", ["8.2", "10"])
def test_two_contexts_share_one_engine(monkeypatch, tmp_path, reference, gen):
    trt = use_doubles(monkeypatch, gen)
    with _detector(tmp_path, PICODET) as det:
        got = _run(det, [VIDEO, STREET], contexts=2)
    assert _same(got, reference[(PICODET, 2)]) > FRAMES
    assert count(trt, "deserialize") == 1 and count(trt, "create_execution_context") == 2


def test_batched_pipeline_uses_a_dynamic_batch_plan(monkeypatch, tmp_path, reference):
    """--batch 4 on a fixed-batch-1 ONNX: the graph is made batch-dynamic, the plan gets a profile up to 4, and each
    batch is one enqueue; the boxes stay the same."""
    from doubles import fake_tensorrt
    trt = use_doubles(monkeypatch, "10")
    with _detector(tmp_path, PICODET, batch=4) as det:
        assert det.engine.dynamic_batch and det.engine.max_batch == 4
        plan = fake_tensorrt.plan_info(det.engine.plan_path)
        got = _run(det, [VIDEO], batch=4, batch_timeout=0.5)
    assert plan["profiles"][0]["image"][2] == [4, 3, 416, 416]
    assert _same(got, reference[(PICODET, 1)]) > FRAMES
    assert count(trt, "enqueue") < FRAMES  # batches, not frames


@pytest.mark.parametrize("aligned", [True, False])
def test_fixed_batch_1_engine_runs_a_batch_per_item(monkeypatch, tmp_path, aligned):
    """Batch-1 plans run a batch item by item: addressed inside the slot buffers when the offsets keep TensorRT's
    256-byte alignment, else through scratch buffers (the double rejects unaligned tensor addresses)."""
    import onnxruntime as ort
    from trafficpipe.engines.tensorrt_engine import TensorRTEngine
    trt = use_doubles(monkeypatch, "10")
    model = tiny_onnx(str(tmp_path / "tiny.onnx"), aligned=aligned)
    eng = TensorRTEngine(model, cache_dir=str(tmp_path / "plans"))
    x = np.random.RandomState(1).randn(3, 3, 16, 16).astype(np.float32)
    try:
        outs = eng.infer({"x": x})
        ctx = eng.contexts[-1]
        assert ctx._per_item and ctx._offsets_ok == aligned
    finally:
        eng.close()
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    for i in range(3):
        ref = sess.run(None, {"x": x[i:i + 1]})
        for o, r in zip(outs, ref):
            assert np.allclose(o[i:i + 1], r, atol=1e-5)
    assert count(trt, "enqueue") == 3


@pytest.mark.parametrize("gen", ["8.2", "10"])
def test_dynamic_batch_engine_sets_input_shapes(monkeypatch, tmp_path, gen):
    import onnxruntime as ort
    from trafficpipe.engines.tensorrt_engine import TensorRTEngine
    trt = use_doubles(monkeypatch, gen)
    model = tiny_onnx(str(tmp_path / "dyn.onnx"), dynamic=True, aligned=False)
    eng = TensorRTEngine(model, batch=4, cache_dir=str(tmp_path / "plans"))
    x = np.random.RandomState(2).randn(3, 3, 16, 16).astype(np.float32)
    try:
        outs = eng.infer({"x": x})
        with pytest.raises(EngineError) as e:
            eng.create_context(2, 8)
        assert "at most 4" in str(e.value)
    finally:
        eng.close()
    ref = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for o, r in zip(outs, ref):
        assert np.allclose(o, r, atol=1e-5)
    assert count(trt, "enqueue") == 1


def _three_images():
    names = sorted(os.listdir(KITTI))[:3]
    return [cv2.imread(os.path.join(KITTI, n)) for n in names]


def test_slots_in_flight_on_their_own_streams(monkeypatch, tmp_path):
    """Three slots submitted before any is collected: each stream waits for the previous slot's work, so the one
    IExecutionContext never runs on two streams at once; without that wait the double raises."""
    from doubles import fake_tensorrt
    from trafficpipe.engines.tensorrt_engine import TensorRTContext
    use_doubles(monkeypatch, "10")
    imgs = _three_images()
    with _detector(tmp_path, PICODET) as det, _detector(tmp_path, PICODET, engine="onnxruntime") as ref:
        ctx = det.engine.create_context(3, 1)
        slots = [ctx.acquire() for _ in range(3)]
        metas = []
        for s, img in zip(slots, imgs):
            metas.append(det.adapter.preprocess(img, s.host_inputs["image"][0]))
            s.size = 1
            ctx.submit(s)
        for img, meta in zip(imgs, metas):
            s = ctx.collect()
            d = det.adapter.postprocess(s.output_list(det.output_names, 0), meta)
            r = ref.detect(img)
            assert len(d) == len(r) and np.allclose(d.boxes, r.boxes, atol=1e-3)
            ctx.release(s)
        # the same without the cross-stream wait: undefined on real TensorRT, an error in the double
        monkeypatch.setattr(TensorRTContext, "_prev", None, raising=False)
        ctx2 = det.engine.create_context(2, 1)
        monkeypatch.setattr(type(ctx2.slots[0].native.stream), "wait_for_event", lambda self, e: None)
        a, b = ctx2.acquire(), ctx2.acquire()
        a.size = b.size = 1
        ctx2.submit(a)
        with pytest.raises(fake_tensorrt.FakeTensorRTMisuse):
            ctx2.submit(b)
        ctx2.collect()


def test_host_outputs_are_stale_until_collected(monkeypatch, tmp_path):
    """The double's streams are asynchronous: outputs reach the pinned buffer only when the event is waited on."""
    use_doubles(monkeypatch, "10")
    with _detector(tmp_path, PICODET) as det:
        ctx = det.engine.create_context(1, 1)
        s = ctx.acquire()
        det.adapter.preprocess(_three_images()[0], s.host_inputs["image"][0])
        s.size = 1
        ctx.submit(s)
        before = [o.copy() for o in s.output_list(det.output_names, 0)]
        ctx.collect()
        after = s.output_list(det.output_names, 0)
        assert all(not b.any() for b in before) and any(a.any() for a in after)
        ctx.release(s)
        # the collect side sleeps on the event instead of spinning a CPU core (BLOCKING_SYNC, no timing)
        import pycuda.driver as cuda
        assert s.native.event.flags == cuda.event_flags.BLOCKING_SYNC | cuda.event_flags.DISABLE_TIMING


def test_missing_tensor_address_fails_loudly(monkeypatch, tmp_path):
    trt = use_doubles(monkeypatch, "10")
    monkeypatch.setattr(trt.IExecutionContext, "set_tensor_address", lambda self, name, ptr: True)  # a "bug"
    with _detector(tmp_path, PICODET) as det:
        with pytest.raises(EngineError) as e:
            det.detect(_three_images()[0])
    assert "Address is not set" in str(e.value) and "\n" not in str(e.value)


def test_plugins_load_before_deserialize(monkeypatch, tmp_path):
    """Built-in plugins (init_libnvinfer_plugins) and --plugin-lib libraries are registered before the plan is
    deserialized; a plan needing a plugin nobody registered fails with a one-line hint."""
    from doubles import fake_tensorrt
    from trafficpipe.engines.tensorrt_engine import TensorRTEngine
    trt = use_doubles(monkeypatch, "8.2")
    model = tiny_onnx(str(tmp_path / "t.onnx"))
    plan = fake_tensorrt.write_plan(trt, str(tmp_path / "custom.engine"), model, plugins=["NMS_TRT", "Fancy_TRT"])
    with pytest.raises(EngineError) as e:
        TensorRTEngine(plan)
    assert "Fancy_TRT" in str(e.value) and "--plugin-lib" in str(e.value)
    lib = fake_tensorrt.write_plugin_library(str(tmp_path / "libfancy.so"), ["Fancy_TRT"])
    eng = TensorRTEngine(plan, plugin_libs=[lib])
    try:
        out = eng.infer({"x": np.ones((1, 3, 16, 16), np.float32)})
        assert out[0].shape == (1, 4, 16, 16) and out[0].any()
    finally:
        eng.close()
    names = fake_tensorrt.event_names(trt)
    assert names[0] == "init_libnvinfer_plugins" and names.count("init_libnvinfer_plugins") == 1
    assert names.index("load_library") < len(names) - 1 - names[::-1].index("deserialize")


def test_detect_cli_on_tensorrt(monkeypatch, tmp_path):
    """`trafficpipe detect --engine tensorrt` builds on first use, then reuses the cached plan."""
    import json
    from trafficpipe.cli import main
    trt = use_doubles(monkeypatch, "10")
    monkeypatch.setenv("TRAFFICPIPE_CACHE", str(tmp_path / "cache"))
    for run in range(2):
        out = tmp_path / ("out%d" % run)
        rc = main(["detect", VIDEO, "--engine", "tensorrt", "--model", "picodet-s-320", "--max-frames", "3",
                   "--save", "jsonl", "--out", str(out), "--no-progress"])
        assert rc == 0
        lines = [json.loads(l) for f in out.rglob("*.jsonl") for l in f.read_text().splitlines() if l.strip()]
        assert len(lines) == 3
    assert count(trt, "build") == 1 and count(trt, "deserialize") == 2


@pytest.mark.parametrize("gen", GENERATIONS)
@pytest.mark.parametrize("model", (PICODET, YOLOX))
def test_device_io_plan_gives_the_onnxruntime_detections(monkeypatch, tmp_path, reference, gen, model):
    """--device-io on TensorRT: the plan is built from the graph wrapped with normalisation and candidate ranking
    (float32 image input, every generation), batches of 4 through the pipeline; detections equal ONNX Runtime's."""
    trt = use_doubles(monkeypatch, gen)
    det = _detector(tmp_path, model, device_io=True, batch=4)
    try:
        assert det.engine.describe()["device_io"] is True
        assert det.adapter.input.dtype == np.float32 and det.adapter.input.shape[1:] == (416, 416, 3)
        assert [o.name for o in det.engine.outputs] == ["candidates"]
        got = _run(det, [VIDEO], batch=4)
    finally:
        det.close()
    assert _same(got, reference[(model, 1)]) > FRAMES
    assert count(trt, "deserialize") == 1  # one plan: the wrapped graph's, never the plain one first


def test_device_io_with_int8_is_refused(monkeypatch, tmp_path):
    use_doubles(monkeypatch, "10")
    with pytest.raises(EngineError) as e:
        _detector(tmp_path, PICODET, device_io=True, precision="int8")
    assert "--no-device-io" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("gen", ["8.2", "10"])
def test_shipped_trained_model_on_tensorrt(monkeypatch, tmp_path, gen):
    """The default model (trained, 5 traffic classes, class names in its metadata) builds and runs as a TensorRT plan
    and gives ONNX Runtime's detections on real frames."""
    from trafficpipe.models.registry import find_model
    default = find_model(None)
    assert os.path.basename(default).startswith("trafficpipe_")
    with _detector(tmp_path, default, engine="onnxruntime") as det:
        ref = _run(det, [VIDEO])
    use_doubles(monkeypatch, gen)
    with _detector(tmp_path, default) as det:
        assert det.adapter.model_classes == ("vehicle", "pedestrian", "bicycle", "road_sign", "traffic_light")
        got = _run(det, [VIDEO])
    assert _same(got, ref) > FRAMES


# -- output buffers follow the shapes the context resolves ----------------------------------------------------------
@pytest.mark.parametrize("gen", ["8.2", "8.6", "10"])
def test_output_buffers_from_the_resolved_shapes(monkeypatch, tmp_path, gen):
    """An output whose first axis is not the batch ([-1, 16] in the plan, [N*64, 16] at run time) gets a buffer of the
    shape the context resolves after the input shapes are set, not the declared shape with axis 0 as the batch."""
    import onnxruntime as ort
    from trafficpipe.engines.tensorrt_engine import TensorRTEngine
    from trt_support import rows_onnx
    use_doubles(monkeypatch, gen)
    model = rows_onnx(str(tmp_path / "rows.onnx"))
    x = np.random.RandomState(5).randn(3, 3, 16, 16).astype(np.float32)
    eng = TensorRTEngine(model, batch=4, cache_dir=str(tmp_path / "plans"))
    try:
        out = eng.infer({"x": x})[0]
    finally:
        eng.close()
    ref = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert ref.shape == (3 * 64, 16)
    assert out.shape[0] == 3 and np.allclose(out.reshape(ref.shape), ref, atol=1e-5)


# -- --plugin-lib with a build of libnvinfer_plugin (TLT/TAO's TensorRT OSS) ----------------------------------------
def test_plugin_lib_that_registers_only_through_its_init(monkeypatch, tmp_path):
    """A libnvinfer_plugin build (TensorRT OSS, as TLT's SSD instructions install) registers its creators only in its
    initLibNvInferPlugins, never on load; TensorRT never replaces a creator of the same name and version. The engine
    calls the library's init before TensorRT's own, so its NMS_TRT is the one the plan gets, and its extra creator
    exists; once TensorRT's own are registered, a later library can only add creators (a warning says so)."""
    from doubles import fake_tensorrt
    from trafficpipe.engines.tensorrt_engine import TensorRTEngine
    from trt_support import LogCapture
    trt = use_doubles(monkeypatch, "8.2")
    model = tiny_onnx(str(tmp_path / "t.onnx"))
    plan = fake_tensorrt.write_plan(trt, str(tmp_path / "ssd.engine"), model, plugins=["NMS_TRT", "OssOnly_TRT"])
    oss = fake_tensorrt.write_plugin_library(str(tmp_path / "libnvinfer_plugin.so.8.2.1"),
                                             ["NMS_TRT", "BatchTilePlugin_TRT", "OssOnly_TRT"],
                                             registers_on_load=False)
    eng = TensorRTEngine(plan, plugin_libs=[oss])
    try:
        out = eng.infer({"x": np.ones((1, 3, 16, 16), np.float32)})
        assert out[0].shape == (1, 4, 16, 16) and out[0].any()
    finally:
        eng.close()
    assert fake_tensorrt.plugin_origin(trt, "NMS_TRT") == os.path.abspath(oss)
    assert fake_tensorrt.plugin_origin(trt, "GridAnchor_TRT") == fake_tensorrt.STOCK_PLUGIN_LIBRARY
    names = fake_tensorrt.event_names(trt)
    assert names.index("init_library") < names.index("init_libnvinfer_plugins") < names.index("deserialize")
    os.makedirs(str(tmp_path / "other"))
    other = fake_tensorrt.write_plugin_library(str(tmp_path / "other" / "libnvinfer_plugin.so.8.2.1"),
                                               ["BatchTilePlugin_TRT", "Late_TRT"], registers_on_load=False)
    logs = LogCapture()
    try:
        TensorRTEngine(plan, plugin_libs=[other]).close()
    finally:
        logs.close()
    assert fake_tensorrt.plugin_origin(trt, "Late_TRT") == os.path.abspath(other)
    assert fake_tensorrt.plugin_origin(trt, "BatchTilePlugin_TRT") == os.path.abspath(oss)
    assert any("already registered" in m for m in logs.messages("WARNING"))


# -- TensorRT 8.2's trt.nptype on numpy 1.24-1.26 -------------------------------------------------------------------
def test_nptype_without_np_bool(monkeypatch, tmp_path):
    """TensorRT 8.2's trt.nptype builds its table with np.bool, which numpy 1.24-1.26 lack: every call raises
    AttributeError there. The engine maps TensorRT data types itself when it does."""
    from trafficpipe.engines.tensorrt_engine import TensorRTEngine
    trt = use_doubles(monkeypatch, "8.2")
    monkeypatch.delattr(np, "bool", raising=False)
    with pytest.raises(AttributeError):
        trt.nptype(trt.DataType.FLOAT)
    model = tiny_onnx(str(tmp_path / "t.onnx"))
    eng = TensorRTEngine(model, cache_dir=str(tmp_path / "plans"))
    try:
        assert eng.inputs[0].dtype == np.float32
        out = eng.infer({"x": np.ones((1, 3, 16, 16), np.float32)})
        assert out[0].shape == (1, 4, 16, 16)
    finally:
        eng.close()
