"""ONNX Runtime engine threading: defaults fit the cores available, runs in flight match, errors surface."""
import os

import cv2
import numpy as np
import pytest

from cli_helpers import read_frames
from trafficpipe.cpu import cores_available
from trafficpipe.engines.onnxruntime_engine import OnnxRuntimeEngine
from trafficpipe.models.registry import find_model
from trafficpipe.paths import data_dir

VIDEO = os.path.join(data_dir(), "videos", "highway-360p.mp4")


def _frames(n):
    out = read_frames(VIDEO, n)
    assert len(out) == n
    return out


def _feed(engine, images):
    """YOLOX-style inputs (BGR 0-255, resized) for each image."""
    _, c, h, w = engine.inputs[0].shape
    return [cv2.resize(img, (w, h)).transpose(2, 0, 1).astype(np.float32) for img in images]


def test_defaults_fit_the_cores_available():
    eng = OnnxRuntimeEngine(find_model("yolox-nano"))
    try:
        cores = int(cores_available())
        d = eng.describe()
        assert d["concurrency"] == min(2, cores) and d["threads"] == max(1, cores // d["concurrency"])
        assert d["threads"] * d["concurrency"] <= max(cores, 1) and d["spinning"] is False
    finally:
        eng.close()
    eng = OnnxRuntimeEngine(find_model("yolox-nano"), threads=3, concurrency=1, spinning=True)
    try:
        assert eng.describe()["threads"] == 3 and eng.run_pool() is None and eng.describe()["spinning"] is True
    finally:
        eng.close()


def test_runs_in_flight_match_one_at_a_time():
    path = find_model("yolox-nano")
    images = _frames(6)
    results = {}
    for conc in (1, 2):
        eng = OnnxRuntimeEngine(path, threads=1, concurrency=conc)
        try:
            ctx = eng.create_context(3, 1)
            name = eng.inputs[0].name
            outs, inflight = [], []
            for x in _feed(eng, images):  # two slots in flight, collected in submission order
                slot = ctx.acquire()
                slot.host_inputs[name][0] = x
                slot.size = 1
                ctx.submit(slot)
                inflight.append(slot)
                if ctx.pending() >= 2:
                    done = ctx.collect()
                    assert done is inflight.pop(0)
                    outs.append(done.host_outputs[eng.output_names[0]][0].copy())
                    ctx.release(done)
            while ctx.pending():
                done = ctx.collect()
                outs.append(done.host_outputs[eng.output_names[0]][0].copy())
                ctx.release(done)
            results[conc] = outs
            if conc == 2:
                assert eng.run_pool() is not None
        finally:
            eng.close()
    assert len(results[1]) == len(results[2]) == 6
    for a, b in zip(results[1], results[2]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(results[1][0], results[1][5])  # different frames, different outputs


def test_a_failing_run_raises_in_the_collecting_thread():
    eng = OnnxRuntimeEngine(find_model("yolox-nano"), threads=1, concurrency=2)
    try:
        ctx = eng.create_context(1, 1)
        slot = ctx.acquire()
        slot.host_inputs = {"not-an-input": slot.host_inputs[eng.inputs[0].name]}
        slot.size = 1
        ctx.submit(slot)  # returns at once; the error comes with collect
        with pytest.raises(Exception) as err:
            ctx.collect()
        assert "not-an-input" in str(err.value) or "input" in str(err.value).lower()
    finally:
        eng.close()


def test_pipeline_keeps_one_run_more_in_flight_than_the_engine_computes(tmp_path):
    """Default --in-flight: the engine's concurrent runs + 1 (a run waits ready while the others compute), at least
    2; an explicit depth is kept. A run with the default depth writes every frame."""
    from trafficpipe.detector import Detector
    from trafficpipe.pipeline import Pipeline
    from trafficpipe.run_config import RunConfig, default_depth
    det = Detector("yolox-nano", concurrency=2, threads=1)
    one = Detector("yolox-nano", concurrency=1, threads=1)
    try:
        assert default_depth(det.engine) == 3 and default_depth(one.engine) == 2
        assert default_depth(object()) == 2  # an engine without concurrent runs (GPU engines queue on the device)
        seen = []
        pipe = Pipeline([VIDEO], det, RunConfig.defaults(max_frames=20), outputs=(),
                        on_frame=lambda f: seen.append(f.index))
        assert pipe.layout.depth == 3
        assert pipe.run().frames_out == 20 and seen == list(range(20))
        deep = Pipeline([VIDEO], det, RunConfig.defaults(in_flight=5), outputs=())
        assert deep.layout.depth == 5
        for src in deep.sources:
            src.close()
    finally:
        det.close()
        one.close()


def test_a_cached_verdict_spares_importing_onnx_at_start(tmp_path):
    """The first start checks the model with onnx (and caches the verdict or the cleaned copy); later starts find it
    in the cache without importing onnx or onnxslim."""
    import subprocess
    import sys
    from cli_helpers import ROOT
    code = ("import sys; from trafficpipe.engines.onnx_graph import cleaned_model_path; from trafficpipe.models.registry "
            "import find_model; p = cleaned_model_path(find_model(sys.argv[1])); print(p, 'onnx' in sys.modules)")
    env = dict(os.environ, TRAFFICPIPE_CACHE=str(tmp_path / "cache"))
    for model in ("trafficpipe_picodet_s_416.onnx", "picodet_s_320_coco.onnx"):  # already clean; cleaned
        runs = [subprocess.run([sys.executable, "-c", code, model], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               universal_newlines=True, check=True).stdout.split() for _ in range(2)]
        assert runs[0][0] == runs[1][0] and runs[0][1] == "True" and runs[1][1] == "False", runs


@pytest.mark.parametrize("failure,expected", [
    ("missing", "onnxruntime is not installed: pip install onnxruntime"),
    ("broken", "onnxruntime could not be loaded: libonnxruntime.so: cannot open shared object file"),
    ("interrupted", None)])
def test_an_onnxruntime_that_does_not_load_is_told_apart_from_one_not_installed(monkeypatch, failure, expected):
    """Not installed, installed but failing to load, and a Ctrl-C or SIGTERM that lands while its native part loads
    (pybind11 raises ImportError("initialization failed") from it): the last is the interrupt, not an error line."""
    import builtins
    from trafficpipe.errors import EngineError, Terminated
    real = builtins.__import__

    def fake(name, *a, **kw):
        if name == "onnxruntime":
            if failure == "missing":
                raise ModuleNotFoundError("No module named 'onnxruntime'", name="onnxruntime")
            if failure == "broken":
                raise ImportError("libonnxruntime.so: cannot open shared object file")
            raise ImportError("initialization failed") from Terminated()
        return real(name, *a, **kw)
    monkeypatch.setattr(builtins, "__import__", fake)
    model = find_model("picodet-s-320")
    if expected is None:
        with pytest.raises(Terminated):
            OnnxRuntimeEngine(model)
    else:
        with pytest.raises(EngineError) as info:
            OnnxRuntimeEngine(model)
        assert str(info.value) == expected
