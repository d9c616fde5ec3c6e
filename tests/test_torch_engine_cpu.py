"""The torch engine's CPU-side parts: one-line errors without CUDA or torch, the batch-dynamic ONNX rewrite (checked
with ONNX Runtime on the shared models), and the onnx2torch conversion on the CPU where torch is installed."""
import os
import subprocess
import sys

import numpy as np
import pytest

from trafficpipe.paths import data_dir

MODELS = os.path.join(data_dir(), "models")
VIDEO = os.path.join(data_dir(), "videos", "highway-360p.mp4")
FILES = ("picodet_s_416_coco.onnx", "yolox_nano_416.onnx")


def _cuda_usable():
    try:
        import torch
        return torch.cuda.is_available()
    except ImportError:
        return False


@pytest.mark.skipif(_cuda_usable(), reason="this machine has CUDA: the GPU suite covers --engine torch here")
def test_engine_torch_without_cuda_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "trafficpipe", "detect", VIDEO, "--engine", "torch", "--max-frames",
                           "2", "--save", "jsonl", "--out", str(tmp_path), "--no-progress"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert proc.returncode == 2
    lines = [l for l in proc.stderr.decode().splitlines() if "error" in l]
    assert len(lines) == 1 and "Traceback" not in proc.stderr.decode()
    assert "torch engine needs" in lines[0] and ("CUDA GPU" in lines[0] or "not installed" in lines[0])


def test_engine_torch_without_torch_says_so(monkeypatch):
    from trafficpipe.engines.factory import create_engine
    from trafficpipe.errors import EngineError
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    with pytest.raises(EngineError) as e:
        create_engine("torch", os.path.join(MODELS, FILES[1]), precision="fp16")
    assert "not installed" in str(e.value) and "\n" not in str(e.value)


def test_torch_engine_rejects_int8():
    from trafficpipe.engines.factory import create_engine
    from trafficpipe.errors import EngineError
    with pytest.raises(EngineError) as e:
        create_engine("torch", os.path.join(MODELS, FILES[1]), precision="int8")
    assert "fp32 or fp16" in str(e.value)


@pytest.mark.parametrize("fname", FILES)
def test_dynamic_batch_rewrite_matches_single_frames(fname):
    """The batch-dynamic graph run on 3 frames at once gives, per frame, exactly what the original gives alone."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from trafficpipe.engines.onnx_batch import dynamic_batch_model
    from trafficpipe.engines.onnx_graph import cleaned_model_path
    model = onnx.load(cleaned_model_path(os.path.join(MODELS, fname)))
    dyn, changed = dynamic_batch_model(model)
    assert changed
    assert dyn.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    assert dynamic_batch_model(dyn)[1] is False  # already dynamic: left alone
    one = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    many = ort.InferenceSession(dyn.SerializeToString(), providers=["CPUExecutionProvider"])
    name = one.get_inputs()[0].name
    x = np.random.default_rng(1).uniform(-2, 2, (3, 3, 416, 416)).astype(np.float32)
    outs = many.run(None, {name: x})
    for i in range(3):
        ref = one.run(None, {name: x[i:i + 1]})
        for a, b in zip(ref, outs):
            assert b.shape[0] == 3
            np.testing.assert_allclose(b[i], a[0], rtol=0, atol=1e-5)


def test_graph_with_batch_folded_into_another_axis_is_left_alone():
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    from trafficpipe.engines.onnx_batch import dynamic_batch_model
    shape = numpy_helper.from_array(np.array([6, -1], np.int64), "shape")  # [1,6,4] -> [6,4]: batch folded away
    g = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [6, 4])], [shape])
    m = helper.make_model(g)
    assert dynamic_batch_model(m)[1] is False


@pytest.mark.parametrize("fname", FILES)
def test_onnx2torch_conversion_on_cpu_matches_onnxruntime(fname):
    """Where torch and onnx2torch are installed (CI installs both): the converted module, shape constants kept on the
    host, gives ONNX Runtime's outputs for a batch of 2."""
    pytest.importorskip("torch")
    from trafficpipe.errors import EngineError
    from trafficpipe.torchdeps import import_onnx2torch
    try:
        import_onnx2torch()
    except EngineError as e:
        pytest.skip("onnx2torch not importable: %s" % e)
    ort = pytest.importorskip("onnxruntime")
    import torch
    from trafficpipe.engines.onnx_graph import cleaned_model_path
    from trafficpipe.engines.torch_model import TorchModel
    path = os.path.join(MODELS, fname)
    tm = TorchModel(path, "cpu")
    assert tm.batch_dynamic and tm.host_constants
    sess = ort.InferenceSession(cleaned_model_path(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(2).uniform(-2, 2, (2, 3, 416, 416)).astype(np.float32)
    with torch.no_grad():
        outs = [torch.zeros((2,) + tuple(o.shape[1:])) for o in tm.outputs]
        tm.run_into(torch.from_numpy(x), outs)
    for i in range(2):
        ref = sess.run(None, {tm.inputs[0].name: x[i:i + 1]})
        for a, b in zip(ref, outs):
            np.testing.assert_allclose(b[i].numpy(), a[0], rtol=0, atol=2e-3)
    # the engine's load-time check: passes on the real graph, fails where frames of a batch get mixed up
    assert tm.batch_consistent()
    forward = tm.forward
    tm.forward = lambda t: [o.flip(0) if o.shape[0] == 2 else o for o in forward(t)]
    assert not tm.batch_consistent()
