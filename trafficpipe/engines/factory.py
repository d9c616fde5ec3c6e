"""Choosing and creating an engine by name (--engine)."""
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


def create_engine(name, model_path, precision="fp32", threads=0, **options):
    """Load `model_path` with engine `name` ("auto" = TensorRT where it is installed, else ONNX Runtime)."""
    if name == "auto":
        name = "tensorrt" if tensorrt_available() else "onnxruntime"
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
