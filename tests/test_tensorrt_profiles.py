"""Several execution contexts on one dynamic-shape TensorRT plan (one per camera, `--contexts N`), as each TensorRT
generation hands out optimization profiles (NvInferRuntime.h 8.2.1 / 8.6.1; 10.x shares profile 0), and plans with
several profiles on the bindings API ("name [profile k]" bindings). Against the conformance double; the detections
must stay ONNX Runtime's."""
import json

import numpy as np
import pytest

from trafficpipe.errors import EngineError
from trt_support import STREET, VIDEO, count, tiny_onnx, use_doubles

pytest.importorskip("onnx")


def _ort(model, x):
    import onnxruntime as ort
    return ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})


def _run_slot(ctx, x):
    slot = ctx.acquire()
    n = x.shape[0]
    slot.host_inputs["x"][:n] = x
    slot.size = n
    ctx.submit(slot)
    return slot


# -- the double follows the header ----------------------------------------------------------------------------------
def test_double_hands_out_profiles_as_each_generation_does(monkeypatch, tmp_path):
    from doubles import fake_tensorrt
    model = tiny_onnx(str(tmp_path / "dyn.onnx"), dynamic=True)
    for gen, second in (("8.2", -1), ("8.6", -1), ("10", 0)):
        trt = use_doubles(monkeypatch, gen)
        plan = fake_tensorrt.write_plan(trt, str(tmp_path / ("p%s.engine" % gen)), model, profiles=2)
        with open(plan, "rb") as f:
            eng = trt.Runtime(trt.Logger()).deserialize_cuda_engine(f.read())
        a = eng.create_execution_context()
        b = eng.create_execution_context()
        get = (lambda c: c.active_optimization_profile) if gen != "10" else (lambda c: c._profile)
        assert get(a) == 0 and get(b) == second, gen
        if gen == "10":
            continue
        # profile -1: no input shape can be set (the symptom the engine used to report as "outside the profile")
        assert hasattr(b, "set_binding_shape")
        assert not b.set_binding_shape(0, (2, 3, 16, 16))
        with pytest.raises(RuntimeError, match="Error in set optimization profile async"):
            b.set_optimization_profile_async(0, 0)  # held by `a`
        assert b.set_optimization_profile_async(1, 0) and b.active_optimization_profile == 1
        assert eng.get_binding_name(2) == "x [profile 1]" and eng.num_bindings == 4
        assert not b.set_binding_shape(0, (2, 3, 16, 16))  # profile 1 uses bindings 2..3
        assert b.set_binding_shape(2, (2, 3, 16, 16))
        del a
        c = eng.create_execution_context()  # 8.2: only the first context ever gets 0; 8.6: 0 is free again
        assert get(c) == (-1 if gen == "8.2" else 0)


# -- item: a second execution context on a dynamic-batch plan --------------------------------------------------------
@pytest.mark.parametrize("gen", ["8.2", "8.6", "10"])
def test_two_contexts_on_a_dynamic_batch_plan(monkeypatch, tmp_path, gen):
    """Two contexts of batch 4 on one dynamic plan run interleaved and both give ONNX Runtime's outputs."""
    from trafficpipe.engines.tensorrt_engine import TensorRTEngine
    use_doubles(monkeypatch, gen)
    model = tiny_onnx(str(tmp_path / "dyn.onnx"), dynamic=True, aligned=False)
    rng = np.random.RandomState(3)
    xs = [rng.randn(4, 3, 16, 16).astype(np.float32), rng.randn(3, 3, 16, 16).astype(np.float32)]
    eng = TensorRTEngine(model, batch=4, cache_dir=str(tmp_path / "plans"))
    try:
        assert eng.dynamic_batch and eng.max_batch == 4
        ctxs = [eng.create_context(2, 4), eng.create_context(2, 4)]
        # 8.2: a profile each; 8.6: the plan shares profile 0 (PROFILE_SHARING_0806), selected explicitly by the
        # second context; 10.x: shared by default
        assert [c.profile for c in ctxs] == ([0, 1] if gen == "8.2" else [0, 0])
        slots = [_run_slot(c, x) for c, x in zip(ctxs, xs)]
        for c, s, x in zip(ctxs, slots, xs):
            assert c.collect() is s
            for name, ref in zip([o.name for o in eng.outputs], _ort(model, x)):
                assert np.allclose(s.host_outputs[name][:len(x)], ref, atol=1e-5)
            c.release(s)
    finally:
        eng.close()


def test_more_contexts_than_profiles_is_one_clear_line(monkeypatch, tmp_path):
    """TensorRT 8.2 cannot give a third context a profile of a two-context plan: one line says how to rebuild."""
    from trafficpipe.engines.tensorrt_engine import TensorRTEngine
    use_doubles(monkeypatch, "8.2")
    model = tiny_onnx(str(tmp_path / "dyn.onnx"), dynamic=True)
    eng = TensorRTEngine(model, batch=2, contexts=1, cache_dir=str(tmp_path / "plans"))
    try:
        first = [eng.create_context(1, 2), eng.create_context(1, 2)]
        with pytest.raises(EngineError) as e:
            eng.create_context(1, 2)
        msg = str(e.value)
        assert "\n" not in msg and "--contexts" in msg and "2 optimization profile" in msg
        first[0].close()  # its profile is free again
        third = eng.create_context(1, 2)
        x = np.ones((2, 3, 16, 16), np.float32)
        s = _run_slot(third, x)
        third.collect()
        assert np.allclose(s.host_outputs["feat"][:2], _ort(model, x)[0], atol=1e-5)
    finally:
        eng.close()


def test_foreign_86_plan_without_sharing_is_one_clear_line(monkeypatch, tmp_path):
    """A plan from another tool with one profile and no PROFILE_SHARING_0806 cannot run two contexts on 8.6."""
    from doubles import fake_tensorrt
    from trafficpipe.engines.tensorrt_engine import TensorRTEngine
    trt = use_doubles(monkeypatch, "8.6")
    model = tiny_onnx(str(tmp_path / "dyn.onnx"), dynamic=True)
    eng = TensorRTEngine(fake_tensorrt.write_plan(trt, str(tmp_path / "one.engine"), model, profiles=1))
    try:
        eng.create_context(1, 4)
        with pytest.raises(EngineError) as e:
            eng.create_context(1, 4)
        msg = str(e.value)
        assert "\n" not in msg and "chosen by another IExecutionContext" in msg and "--contexts N" in msg
    finally:
        eng.close()


# -- item: plans with several profiles on the bindings API ----------------------------------------------------------
@pytest.mark.parametrize("gen", ["8.2", "8.6"])
def test_profile_bindings_are_not_extra_io(monkeypatch, tmp_path, gen):
    """A plan with 3 profiles (e.g. from trtexec --profile) on the bindings API: "x [profile 1]" and the like are the
    same tensors for other profiles, not more inputs and outputs; each context uses its profile's binding indices."""
    from doubles import fake_tensorrt
    from trafficpipe.engines.tensorrt_engine import TensorRTEngine
    trt = use_doubles(monkeypatch, gen)
    model = tiny_onnx(str(tmp_path / "dyn.onnx"), dynamic=True)
    plan = fake_tensorrt.write_plan(trt, str(tmp_path / "three.engine"), model, profiles=3)
    if gen == "8.6":  # both API families there: this plan is read through the bindings API as on 8.0-8.4
        monkeypatch.delattr(trt.ICudaEngine, "num_io_tensors")
    eng = TensorRTEngine(plan)
    try:
        assert [s.name for s in eng.inputs] == ["x"] and [s.name for s in eng.outputs] == ["feat"]
        assert eng.io_api == "bindings" and eng.max_batch == 4
        ctxs = [eng.create_context(1, 4) for _ in range(3)]
        x = np.random.RandomState(4).randn(4, 3, 16, 16).astype(np.float32)
        for c in ctxs:
            s = _run_slot(c, x)
            c.collect()
            assert np.allclose(s.host_outputs["feat"][:4], _ort(model, x)[0], atol=1e-5)
            c.release(s)
    finally:
        eng.close()
    assert count(trt, "enqueue") == 3


# -- `--contexts 2 --batch 4` end to end -----------------------------------------------------------------------------
def _detections(out):
    rows = []
    for f in sorted(out.rglob("*.jsonl")):
        for line in f.read_text().splitlines():
            if line.strip():
                d = json.loads(line)
                rows.append((f.name, d.get("frame"), json.dumps(d.get("detections"), sort_keys=True)))
    return sorted(rows)


@pytest.fixture(scope="module")
def cli_reference(tmp_path_factory):
    from trafficpipe.cli import main
    out = tmp_path_factory.mktemp("ort")
    assert main(["detect", VIDEO, STREET, "--model", "picodet-s-320", "--contexts", "2", "--batch", "4",
                 "--max-frames", "4", "--save", "jsonl", "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.mark.parametrize("gen", ["8.2", "8.6", "10"])
def test_detect_two_contexts_batch_4_on_tensorrt(monkeypatch, tmp_path, cli_reference, gen):
    """`trafficpipe detect CAM1 CAM2 --engine tensorrt --contexts 2 --batch 4` on real clips: the fixed-batch-1 model
    becomes a dynamic-batch plan and both contexts run on it; the detections are ONNX Runtime's."""
    from trafficpipe.cli import main
    trt = use_doubles(monkeypatch, gen)
    monkeypatch.setenv("TRAFFICPIPE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    rc = main(["detect", VIDEO, STREET, "--engine", "tensorrt", "--model", "picodet-s-320", "--contexts", "2",
               "--batch", "4", "--max-frames", "4", "--save", "jsonl", "--out", str(out), "--no-progress"])
    assert rc == 0
    got, ref = _detections(out), _detections(cli_reference)
    assert len(got) == 8 and len(ref) == 8 and sum(len(json.loads(d)) for _, _, d in ref) > 0
    for (fa, ia, da), (fb, ib, db) in zip(got, ref):
        assert (fa, ia) == (fb, ib)
        a, b = json.loads(da), json.loads(db)
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert x["cls"] == y["cls"] and abs(x["score"] - y["score"]) < 1e-3
            assert np.allclose(x["box"], y["box"], atol=0.05)
    assert count(trt, "create_execution_context") >= 2
    keys = [json.loads(f.read_text())["key"] for f in (tmp_path / "cache").rglob("*.plan.json")]
    assert len(keys) == 1 and keys[0].get("profiles", 1) == (3 if gen == "8.2" else 1)
