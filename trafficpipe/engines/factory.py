"""Choosing and creating an engine by name (--engine)."""
import importlib.util
import os

from ..errors import EngineError, TrafficpipeError

ENGINES = ("auto", "onnxruntime", "torch", "tensorrt")


def tensorrt_available():
    # type: () -> bool
    """True where the tensorrt and pycuda modules import."""
    try:
        import tensorrt  # noqa: F401
        import pycuda  # noqa: F401
    except ImportError:
        return False
    return True


def cuda_device_present():
    # type: () -> bool
    """True where the NVIDIA driver exposes a GPU (checked without importing torch or pycuda)."""
    return os.path.exists("/proc/driver/nvidia/gpus") and bool(os.listdir("/proc/driver/nvidia/gpus")) \
        or os.path.exists("/dev/nvidia0") or os.path.exists("/dev/nvhost-ctrl-gpu")  # Jetson: nvhost


def torch_cuda_available():
    # type: () -> bool
    """True where torch and onnx2torch import and torch sees a CUDA device (torch is imported only on a GPU host)."""
    if not cuda_device_present():
        return False
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("onnx2torch") is None:
        return False
    try:
        import torch
        return bool(torch.cuda.is_available())
    except Exception:  # a broken torch install is no reason to fail: ONNX Runtime still runs
        return False


def choose_engine(name="auto"):
    # type: (str) -> tuple
    """(engine name, reason) for `--engine NAME`; "auto" picks TensorRT where it imports, else torch on a CUDA GPU
    where torch is installed, else ONNX Runtime on the CPU."""
    if name != "auto":
        return name, "asked for"
    if tensorrt_available():
        return "tensorrt", "tensorrt and pycuda import"
    if torch_cuda_available():
        return "torch", "a CUDA GPU and torch are present, TensorRT is not installed"
    if cuda_device_present():
        return "onnxruntime", "a GPU is present but neither TensorRT nor torch with CUDA imports (pip install -e .[gpu,torch])"
    return "onnxruntime", "no CUDA GPU"


GPU_ENGINES = ("torch", "tensorrt")


def default_precision(engine):
    # type: (str) -> str
    """fp16 on the GPU engines (every figure in docs/benchmarks.md), fp32 on ONNX Runtime."""
    return "fp16" if engine in GPU_ENGINES else "fp32"


#: keyword options each engine takes beyond (model_path, precision, threads). An option of one engine is accepted, and
#: left unused, by the others (the same call runs with --engine auto on any host); one no engine takes is an error.
ENGINE_OPTIONS = {
    "onnxruntime": ("concurrency", "spinning", "device_io"),
    "torch": ("device", "cuda_graphs", "max_batch", "cudnn_benchmark", "device_io"),
    "tensorrt": ("batch", "workspace_mb", "plugin_libs", "calib", "cache_dir", "device", "arch", "force_build",
                 "device_io", "contexts"),
}


def check_engine_options(options, caller="create_engine", own=()):
    # type: (dict, str, tuple) -> None
    """TrafficpipeError (one line) naming the keyword options of `options` that no engine takes, and listing those
    `caller` accepts: its own keywords `own`, then every engine option."""
    known = set(own)
    for names in ENGINE_OPTIONS.values():
        known.update(names)
    unknown = sorted(k for k in options if k not in known)
    if not unknown:
        return
    import difflib
    named = []
    for k in unknown:
        close = difflib.get_close_matches(k, sorted(known), 1, 0.5)
        named.append("%r (did you mean %s?)" % (k, close[0]) if close else repr(k))
    engine_names = ", ".join(sorted(known - set(own)))
    takes = ("%s and the engine options " % ", ".join(own) if own else "the engine options ") + engine_names
    raise TrafficpipeError("%s got unknown keyword argument%s %s; it takes %s" % (
        caller, "s" if len(unknown) > 1 else "", ", ".join(named), takes))


def create_engine(name, model_path, precision=None, threads=0, **options):
    """Load `model_path` with engine `name` ("auto": see `choose_engine`); precision None = `default_precision`.
    `options`: ENGINE_OPTIONS (those of another engine are ignored); any other keyword is a TrafficpipeError."""
    check_engine_options(options)
    name = choose_engine(name)[0]
    if precision is None:
        precision = default_precision(name)
    if name == "onnxruntime":
        if precision not in ("fp32", None):
            raise EngineError("the onnxruntime engine runs fp32 only (got --precision %s)" % precision)
        from .onnxruntime_engine import OnnxRuntimeEngine
        ort_options = dict((k, v) for k, v in options.items() if k in ENGINE_OPTIONS["onnxruntime"])
        return OnnxRuntimeEngine(model_path, threads=threads, **ort_options)
    if name == "torch":
        from .torch_engine import TorchEngine
        return TorchEngine(model_path, precision=precision, **options)
    if name == "tensorrt":
        from .tensorrt_engine import TensorRTEngine
        trt_options = dict((k, v) for k, v in options.items() if k in ENGINE_OPTIONS["tensorrt"])
        return TensorRTEngine(model_path, precision=precision, **trt_options)
    raise EngineError("unknown engine %r; choose from %s" % (name, ", ".join(ENGINES)))
