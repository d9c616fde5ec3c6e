"""Choosing and creating an engine by name (--engine)."""
import importlib.util
import os

from ..errors import EngineError

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


def create_engine(name, model_path, precision=None, threads=0, **options):
    """Load `model_path` with engine `name` ("auto": see `choose_engine`); precision None = `default_precision`."""
    name = choose_engine(name)[0]
    if precision is None:
        precision = default_precision(name)
    if name == "onnxruntime":
        if precision not in ("fp32", None):
            raise EngineError("the onnxruntime engine runs fp32 only (got --precision %s)" % precision)
        from .onnxruntime_engine import OnnxRuntimeEngine
        ort_options = dict((k, v) for k, v in options.items() if k in ("concurrency", "spinning", "device_io"))
        return OnnxRuntimeEngine(model_path, threads=threads, **ort_options)
    if name == "torch":
        from .torch_engine import TorchEngine
        return TorchEngine(model_path, precision=precision, **options)
    if name == "tensorrt":
        from .tensorrt_engine import TensorRTEngine
        return TensorRTEngine(model_path, precision=precision, **options)
    raise EngineError("unknown engine %r; choose from %s" % (name, ", ".join(ENGINES)))
