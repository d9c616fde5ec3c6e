"""Building TensorRT plans against the conformance double of each API generation (8.2, 10.x, 11.x).

No TensorRT exists on this machine: these tests prove the builder code calls only what each generation offers, with
the right flags, workspace API, precision flags, calibration and one-line errors.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from trafficpipe.errors import EngineError, ModelError
from trt_support import (GENERATIONS, KITTI, PICODET_320, LogCapture, count, tiny_onnx, use_doubles)

pytest.importorskip("onnx")


def _build(tmp_path, **kw):
    from trafficpipe.engines.trt_build import obtain_plan
    kw.setdefault("cache_dir", str(tmp_path / "plans"))
    return obtain_plan(kw.pop("model"), **kw)


def _plan(data):
    from doubles import fake_tensorrt
    return fake_tensorrt.plan_info(data)


# -- the double itself fails loudly on calls a generation lacks ---------------------------------------------------
def test_double_lacks_what_each_generation_lacks(monkeypatch):
    trt = use_doubles(monkeypatch, "8.2")
    lg = trt.Logger()
    cfg = trt.Builder(lg).create_builder_config()
    assert not hasattr(cfg, "set_memory_pool_limit") and not hasattr(trt, "MemoryPoolType")
    cfg.max_workspace_size = 1 << 20
    with pytest.raises(AttributeError):
        cfg.workspace = 1  # pybind11 objects take no new attributes
    assert not hasattr(trt.ICudaEngine, "num_io_tensors") and not hasattr(trt.IExecutionContext, "execute_async_v3")

    trt = use_doubles(monkeypatch, "10")
    cfg = trt.Builder(trt.Logger()).create_builder_config()
    with pytest.raises(AttributeError):
        cfg.max_workspace_size = 1 << 20
    assert not hasattr(trt.IExecutionContext, "execute_async_v2") and not hasattr(trt.Builder, "build_engine")
    assert hasattr(trt.BuilderFlag, "INT8") and hasattr(trt, "IInt8EntropyCalibrator2")

    trt = use_doubles(monkeypatch, "11")
    with pytest.raises(AttributeError):
        trt.BuilderFlag.INT8
    with pytest.raises(AttributeError):
        trt.BuilderFlag.FP16
    assert not hasattr(trt, "IInt8EntropyCalibrator2")
    assert not hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH")
    assert not hasattr(trt.Builder(trt.Logger()), "platform_has_fast_int8")


def test_double_82_parser_needs_explicit_batch(monkeypatch, tmp_path):
    trt = use_doubles(monkeypatch, "8.2")
    lg = trt.Logger()
    net = trt.Builder(lg).create_network(0)
    parser = trt.OnnxParser(net, lg)
    with open(tiny_onnx(str(tmp_path / "t.onnx")), "rb") as f:
        assert not parser.parse(f.read())
    assert "explicit batch dimension" in parser.get_error(0).desc()


# -- builds on every generation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("gen", GENERATIONS)
def test_build_fp32_each_generation(monkeypatch, tmp_path, gen):
    trt = use_doubles(monkeypatch, gen)
    logs = LogCapture()
    try:
        data, path, side = _build(tmp_path, model=tiny_onnx(str(tmp_path / "tiny.onnx")))
    finally:
        logs.close()
    plan = _plan(data)
    assert plan["version"] == trt.__version__ and plan["flags"] == [] and plan["producer"] == "build_serialized_network"
    assert os.path.isfile(path) and os.path.isfile(path + ".json") and side["from_cache"] is False
    assert side["key"]["tensorrt"] == trt.__version__ and side["key"]["input_shape"] == [1, 3, 16, 16]
    assert side["outputs"] == ["feat"]
    # no deprecated EXPLICIT_BATCH on 10.x (ignored there), and none exists on 11.x
    assert not any("EXPLICIT_BATCH is deprecated" in m for m in logs.messages("DEBUG"))
    # workspace: 8.2 only has max_workspace_size (set to the Nano-sized default); 10/11 keep TensorRT's default
    if gen == "8.2":
        assert plan["workspace"] == 256 << 20 and side["workspace_api"] == "max_workspace_size"
    else:
        assert plan["workspace"] is None and side["workspace_api"] == "default"


@pytest.mark.parametrize("gen,api", [("8.2", "max_workspace_size"), ("10", "set_memory_pool_limit"),
                                     ("11", "set_memory_pool_limit")])
def test_workspace_api_per_version(monkeypatch, tmp_path, gen, api):
    use_doubles(monkeypatch, gen)
    data, path, side = _build(tmp_path, model=tiny_onnx(str(tmp_path / "tiny.onnx")), workspace_mb=64)
    assert _plan(data)["workspace"] == 64 << 20 and side["workspace_api"] == api


@pytest.mark.parametrize("gen", ["8.2", "10"])
def test_fp16_sets_the_builder_flag(monkeypatch, tmp_path, gen):
    use_doubles(monkeypatch, gen)
    data, path, side = _build(tmp_path, model=tiny_onnx(str(tmp_path / "tiny.onnx")), precision="fp16")
    assert _plan(data)["flags"] == ["FP16"] and side["key"]["precision"] == "fp16"


def test_dynamic_batch_gets_an_optimization_profile(monkeypatch, tmp_path):
    use_doubles(monkeypatch, "10")
    data, path, side = _build(tmp_path, model=tiny_onnx(str(tmp_path / "dyn.onnx"), dynamic=True), batch=4)
    assert _plan(data)["profiles"] == [{"x": [[1, 3, 16, 16], [4, 3, 16, 16], [4, 3, 16, 16]]}]
    assert side["key"]["batch"] == 4 and side["key"]["input_shape"] == [4, 3, 16, 16]


@pytest.mark.parametrize("gen,profiles,preview", [("8.2", 3, []), ("8.6", 1, ["PROFILE_SHARING_0806"]),
                                                   ("10", 1, [])])
def test_dynamic_plan_gives_each_context_a_profile(monkeypatch, tmp_path, gen, profiles, preview):
    """TensorRT 8.0-8.5 need one optimization profile per execution context in use (contexts + 1, for the
    detector's own), 8.6 shares one through PreviewFeature.PROFILE_SHARING_0806, 10.x shares profiles by default."""
    use_doubles(monkeypatch, gen)
    model = tiny_onnx(str(tmp_path / "dyn.onnx"), dynamic=True)
    data, path, side = _build(tmp_path, model=model, batch=4, contexts=2)
    plan = _plan(data)
    assert plan["profiles"] == [{"x": [[1, 3, 16, 16], [4, 3, 16, 16], [4, 3, 16, 16]]}] * profiles
    assert plan["preview"] == preview
    assert side["key"].get("profiles", 1) == profiles
    # a static plan has no profile to share
    data, _, side = _build(tmp_path, model=tiny_onnx(str(tmp_path / "static.onnx")), contexts=2)
    assert _plan(data)["profiles"] == [] and "profiles" not in side["key"]


def _calibration_network(trt, tmp_path):
    from trafficpipe.engines.gpu_runtime import CudaRuntime
    from trafficpipe.engines.trt_api import trt_logger
    from trafficpipe.engines.trt_build import parse_onnx
    from trt_support import two_input_onnx
    lg = trt_logger(trt)
    rt = CudaRuntime.get(0)
    builder = trt.Builder(lg)
    network, parser = parse_onnx(trt, lg, builder, two_input_onnx(str(tmp_path / "two.onnx")))
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.INT8)
    return rt, builder, network, parser, config


def _resize_adapter(spec):
    """A model adapter for a 16x16 image input: BGR -> float CHW 0..1 (its preprocessing is all calibration needs)."""
    import cv2
    from trafficpipe.models.base import ModelAdapter

    class Resize(ModelAdapter):
        family = "resize16"

        def preprocess(self, image, out):
            out[:] = cv2.resize(image, (16, 16)).transpose(2, 0, 1) / 255.0

    return Resize([spec], [])


@pytest.mark.parametrize("gen", ["8.2", "10"])
def test_int8_calibrator_gives_a_pointer_per_input(monkeypatch, tmp_path, gen):
    """TensorRT's calibrator trampoline copies len(names) pointers from get_batch: a model with two inputs gets one
    device buffer each, in TensorRT's order; inputs other than the image take the given per-image values, and an
    input with no data ends calibration with one error naming it instead of reading past the list."""
    from trafficpipe.engines.base import TensorSpec
    from trafficpipe.engines.trt_calibrator import calibration_images, calibrator_class
    trt = use_doubles(monkeypatch, gen)
    images = calibration_images(KITTI, 3)
    adapter = _resize_adapter(TensorSpec("x", (1, 3, 16, 16)))
    rt, builder, network, parser, config = _calibration_network(trt, tmp_path)
    with rt.activate():
        cal = calibrator_class(trt)(rt, adapter, images, 1, None,
                                    extra_inputs={"gain": np.full((1, 1, 1), 2.5, np.float32)})
        config.int8_calibrator = cal
        plan = builder.build_serialized_network(network, config)
        cal.free()
    absmax = _plan(bytes(plan))["calibration"]["absmax"]
    assert absmax["gain"] == 2.5 and 0.5 < absmax["x"] <= 1.0
    rt, builder, network, parser, config = _calibration_network(trt, tmp_path)
    logs = LogCapture()
    try:
        with rt.activate():
            cal = calibrator_class(trt)(rt, adapter, images, 1, None)
            config.int8_calibrator = cal
            assert builder.build_serialized_network(network, config) is None
            cal.free()
    finally:
        logs.close()
    assert any("gain" in m for m in logs.messages("ERROR"))


@pytest.mark.parametrize("gen", ["8.2", "10"])
def test_int8_calibrates_on_real_images_and_reuses_the_cache(monkeypatch, tmp_path, gen):
    trt = use_doubles(monkeypatch, gen)
    data, path, side = _build(tmp_path, model=PICODET_320, precision="int8", calib=KITTI, calib_limit=5)
    plan = _plan(data)
    assert plan["flags"] == ["FP16", "INT8"]
    cal = plan["calibration"]
    assert cal["batches"] == 5 and cal["batch_size"] == 1 and cal["from_cache"] is False
    # the calibrator fed PicoDet-normalised KITTI pixels: |x| up to (255 - 103.53) / 57.375 = 2.64
    assert 2.0 < cal["absmax"]["image"] <= 2.65
    with open(path + ".calib", "rb") as f:
        header = f.read().splitlines()[0].decode()
    assert header.startswith("TRT-") and header.endswith("EntropyCalibration2")
    # a rebuild (no images given) uses the calibration cache instead of images
    data2, _, _ = _build(tmp_path, model=PICODET_320, precision="int8", force=True)
    assert _plan(data2)["calibration"]["from_cache"] is True and count(trt, "calibrated") == 1


def test_int8_without_images_or_cache_says_how(monkeypatch, tmp_path):
    use_doubles(monkeypatch, "10")
    with pytest.raises(EngineError) as e:
        _build(tmp_path, model=PICODET_320, precision="int8")
    assert "--calib" in str(e.value) and "\n" not in str(e.value)


def test_int8_refused_on_jetson_nano(monkeypatch, tmp_path):
    trt = use_doubles(monkeypatch, "8.2", gpu_name="NVIDIA Tegra X1", compute_capability=(5, 3))
    with pytest.raises(EngineError) as e:
        _build(tmp_path, model=PICODET_320, precision="int8", calib=KITTI, calib_limit=2)
    msg = str(e.value)
    assert "fast INT8" in msg and "sm_53" in msg and "--precision fp16" in msg
    assert count(trt, "build") == 0
    data, _, _ = _build(tmp_path, model=tiny_onnx(str(tmp_path / "t.onnx")), precision="fp16")  # FP16 is fine there
    assert _plan(data)["flags"] == ["FP16"]


@pytest.mark.parametrize("precision,words", [("fp16", ("strongly typed", "modelopt.onnx.autocast")),
                                             ("int8", ("Q/DQ", "modelopt.onnx.quantization"))])
def test_tensorrt_11_explains_strong_typing(monkeypatch, tmp_path, precision, words):
    trt = use_doubles(monkeypatch, "11")
    with pytest.raises(EngineError) as e:
        _build(tmp_path, model=tiny_onnx(str(tmp_path / "t.onnx")), precision=precision, calib=KITTI)
    assert all(w in str(e.value) for w in words), str(e.value)
    assert "--precision fp32" in str(e.value) and count(trt, "build") == 0


def test_parser_errors_one_line_each(monkeypatch, tmp_path):
    use_doubles(monkeypatch, "10")
    model = tiny_onnx(str(tmp_path / "custom.onnx"), custom_ops=("FancyUpsample", "SecretSauce"))
    logs = LogCapture()
    try:
        with pytest.raises(ModelError) as e:
            _build(tmp_path, model=model)
    finally:
        logs.close()
    errors = [m for m in logs.messages("ERROR") if m.startswith("TensorRT ONNX parser")]
    assert len(errors) == 2 and all("\n" not in m for m in errors)
    assert "FancyUpsample" in errors[0] and "SecretSauce" in errors[1]
    assert "2 parser errors" in str(e.value) and "\n" not in str(e.value)


def test_without_the_onnx_package_tensorrt_reads_the_input_shape(monkeypatch, tmp_path):
    """JetPack 4.6's Python 3.6 often lacks onnx/onnxslim: the key's input shape then comes from TensorRT's parser."""
    trt = use_doubles(monkeypatch, "8.2")
    model = tiny_onnx(str(tmp_path / "t.onnx"))
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ImportError
    monkeypatch.setitem(sys.modules, "onnxslim", None)
    data, path, side = _build(tmp_path, model=model, batch=4)  # batch 4 cannot be made dynamic without onnx
    assert side["key"]["input_shape"] == [1, 3, 16, 16] and side["key"]["batch"] == 1
    assert count(trt, "parse") == 2  # once for the cache key, once for the build


def test_not_onnx_is_one_line(monkeypatch, tmp_path):
    use_doubles(monkeypatch, "10")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08this is not a model at all" * 4)
    with pytest.raises(ModelError) as e:
        _build(tmp_path, model=str(bad))
    assert "\n" not in str(e.value)


# -- the CLI ----------------------------------------------------------------------------------------------------------
def test_build_engine_cli_without_tensorrt_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "trafficpipe", "build-engine", PICODET_320, "--precision", "fp16"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and "TensorRT is not installed" in lines[0] and "JetPack" in lines[0]


def test_build_engine_cli_with_double(monkeypatch, tmp_path, capsys):
    from trafficpipe.cli import main
    use_doubles(monkeypatch, "8.2")
    out = str(tmp_path / "tiny.engine")
    model = tiny_onnx(str(tmp_path / "tiny.onnx"))
    rc = main(["build-engine", model, "--precision", "fp16", "--workspace", "128", "--out", out,
               "--cache-dir", str(tmp_path / "plans")])
    text = capsys.readouterr().out
    assert rc == 0 and ("plan: %s" % out) in text and "TensorRT 8.2.1.8 on Fake GPU (sm 8.6), fp16" in text
    assert os.path.isfile(out) and os.path.isfile(out + ".json") and _plan(open(out, "rb").read())["workspace"] == 128 << 20
    rc = main(["build-engine", model, "--precision", "fp16", "--workspace", "128",
               "--cache-dir", str(tmp_path / "plans")])
    assert rc == 0 and "(from the cache)" in capsys.readouterr().out
    assert main(["build-engine", model, "--calib", KITTI]) == 2  # --calib without int8: one-line error


def test_build_engine_never_writes_its_plan_over_the_model_or_a_file_that_is_no_plan(tmp_path, capsys):
    """--out MODEL, or a plan whose sidecar (PLAN.json) is MODEL's card, or a file no build-engine wrote: one line,
    exit 2, before TensorRT is even needed (this machine has none), and the files as they were."""
    from trafficpipe.cli import main
    model = tiny_onnx(str(tmp_path / "tiny.onnx"))
    card = tmp_path / "tiny.json"
    card.write_text('{"family": "picodet", "classes": ["vehicle"]}')
    other = tmp_path / "notes.txt"
    other.write_text("mine")
    before = open(model, "rb").read()
    for out, words in ((model, "the model or its card"), (str(tmp_path / "tiny"), "the model or its card"),
                       (str(other), "no plan written by build-engine")):
        assert main(["build-engine", model, "--out", out]) == 2
        err = capsys.readouterr().err
        assert words in err and "TensorRT is not installed" not in err, err
    assert open(model, "rb").read() == before and other.read_text() == "mine"
    assert card.read_text() == '{"family": "picodet", "classes": ["vehicle"]}'
