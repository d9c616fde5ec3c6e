"""The TensorRT plan cache: reuse only what matches (ONNX bytes, TensorRT version, GPU, precision, batch, input
shape); anything else is rebuilt, never loaded blindly."""
import json
import os

import pytest

from trafficpipe.errors import EngineError
from trt_support import LogCapture, count, tiny_onnx, use_doubles

pytest.importorskip("onnx")


def _obtain(tmp_path, model, **kw):
    from trafficpipe.engines.trt_build import obtain_plan
    return obtain_plan(model, cache_dir=str(tmp_path / "plans"), **kw)


def test_hit_then_miss_on_precision_and_batch(monkeypatch, tmp_path):
    trt = use_doubles(monkeypatch, "10")
    model = tiny_onnx(str(tmp_path / "dyn.onnx"), dynamic=True)
    d1, p1, s1 = _obtain(tmp_path, model)
    d2, p2, s2 = _obtain(tmp_path, model)
    assert (p1, d1) == (p2, d2) and s2["from_cache"] and count(trt, "build") == 1
    _, p3, s3 = _obtain(tmp_path, model, precision="fp16")
    _, p4, s4 = _obtain(tmp_path, model, batch=4)
    assert len({p1, p3, p4}) == 3 and not s3["from_cache"] and not s4["from_cache"] and count(trt, "build") == 3
    assert s4["key"]["input_shape"] == [4, 3, 16, 16]


def test_miss_on_changed_onnx(monkeypatch, tmp_path):
    trt = use_doubles(monkeypatch, "10")
    model = tiny_onnx(str(tmp_path / "m.onnx"))
    _, p1, s1 = _obtain(tmp_path, model)
    import numpy as np
    import onnx
    from onnx import numpy_helper
    m = onnx.load(model)
    m.graph.initializer[1].CopyFrom(numpy_helper.from_array(np.ones(4, np.float32), "b"))  # same graph, other bias
    onnx.save(m, model)
    _, p2, s2 = _obtain(tmp_path, model)
    assert p1 != p2 and s1["key"]["onnx_sha256"] != s2["key"]["onnx_sha256"] and count(trt, "build") == 2


def test_miss_on_other_tensorrt_version(monkeypatch, tmp_path):
    from trafficpipe.engines.plan_cache import check_plan
    trt = use_doubles(monkeypatch, "10")
    model = tiny_onnx(str(tmp_path / "m.onnx"))
    _, p1, s1 = _obtain(tmp_path, model)
    monkeypatch.setattr(trt, "__version__", "10.4.0.1")  # an upgraded TensorRT
    _, p2, s2 = _obtain(tmp_path, model)
    assert p1 != p2 and s2["key"]["tensorrt"] == "10.4.0.1" and count(trt, "build") == 2
    key = dict(s1["key"], tensorrt="10.4.0.1")
    data, reason = check_plan(p1, key)
    assert data is None and "tensorrt" in reason and "10.3.0.26" in reason


def test_miss_on_other_gpu(monkeypatch, tmp_path):
    use_doubles(monkeypatch, "10", gpu_name="NVIDIA GeForce RTX 3060", compute_capability=(8, 6))
    model = tiny_onnx(str(tmp_path / "m.onnx"))
    _, p1, s1 = _obtain(tmp_path, model)
    trt = use_doubles(monkeypatch, "10", gpu_name="NVIDIA GeForce RTX 2080", compute_capability=(7, 5))
    _, p2, s2 = _obtain(tmp_path, model)
    assert p1 != p2 and s2["key"]["gpu"] == "NVIDIA GeForce RTX 2080" and s2["key"]["compute_capability"] == "7.5"
    assert count(trt, "build") == 1


@pytest.mark.parametrize("damage", ["garbage", "missing", "key", "plan"])
def test_damaged_entry_is_rebuilt(monkeypatch, tmp_path, damage):
    trt = use_doubles(monkeypatch, "8.2")
    model = tiny_onnx(str(tmp_path / "m.onnx"))
    d1, p1, s1 = _obtain(tmp_path, model)
    side = p1 + ".json"
    if damage == "garbage":
        with open(side, "w") as f:
            f.write("{not json")
    elif damage == "missing":
        os.remove(side)
    elif damage == "key":  # a sidecar that says the plan came from another TensorRT
        d = json.load(open(side))
        d["key"]["tensorrt"] = "8.0.1.6"
        json.dump(d, open(side, "w"))
    else:  # the plan bytes changed under the sidecar
        with open(p1, "ab") as f:
            f.write(b"\0")
    logs = LogCapture()
    try:
        d2, p2, s2 = _obtain(tmp_path, model)
    finally:
        logs.close()
    assert p2 == p1 and not s2["from_cache"] and count(trt, "build") == 2
    assert any("rebuilding TensorRT plan" in m for m in logs.messages("WARNING"))
    d3, _, s3 = _obtain(tmp_path, model)  # the rebuilt entry is valid again
    assert s3["from_cache"] and d3 == d2 and count(trt, "build") == 2


def test_built_plan_refused_on_another_gpu(monkeypatch, tmp_path):
    """A plan written by build-engine --out carries its sidecar: another GPU refuses it with a rebuild hint."""
    from trafficpipe.cli import main
    from trafficpipe.engines.tensorrt_engine import TensorRTEngine
    use_doubles(monkeypatch, "8.2", gpu_name="NVIDIA GeForce GTX 1080", compute_capability=(6, 1))
    out = str(tmp_path / "tiny.engine")
    model = tiny_onnx(str(tmp_path / "tiny.onnx"))
    assert main(["build-engine", model, "--out", out, "--cache-dir", str(tmp_path / "plans")]) == 0
    use_doubles(monkeypatch, "8.2", gpu_name="NVIDIA Tegra X1", compute_capability=(5, 3))
    with pytest.raises(EngineError) as e:
        TensorRTEngine(out)
    assert "GTX 1080" in str(e.value) and "Tegra X1" in str(e.value) and "build-engine" in str(e.value)


def test_foreign_plan_without_sidecar_is_refused_by_tensorrt(monkeypatch, tmp_path):
    """A plan from another TensorRT version (e.g. copied from another machine): TensorRT's own check, one line."""
    from doubles import fake_tensorrt
    from trafficpipe.engines.tensorrt_engine import TensorRTEngine
    trt = use_doubles(monkeypatch, "8.2")
    plan = fake_tensorrt.write_plan(trt, str(tmp_path / "old.engine"), tiny_onnx(str(tmp_path / "t.onnx")))
    use_doubles(monkeypatch, "10")
    with pytest.raises(EngineError) as e:
        TensorRTEngine(plan)
    msg = str(e.value)
    assert "not compatible with this version of TensorRT" in msg and "8.2.1.8" in msg and "rebuild" in msg
    assert "\n" not in msg
