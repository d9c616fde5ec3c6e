"""What every TensorRT module here shares: importing tensorrt, the logger bridge, plugin loading, and feature
detection across the Python API generations (8.0/8.2, 8.5+/10.x, 11.x) -- by `hasattr`, never by version strings.

API facts this code relies on (checked against NVIDIA's documentation and samples):
- 8.0-8.4 run engines through bindings: `engine.num_bindings`, `get_binding_name/shape/dtype`, `binding_is_input`,
  `context.set_binding_shape`, `execute_async_v2(bindings, stream_handle)`; implicit-batch engines (old tlt-converter
  plans, `engine.has_implicit_batch_dimension`) use `execute_async(batch_size, bindings, stream_handle)`.
- 8.5 added, and 10.0 kept only, named I/O tensors: `num_io_tensors`, `get_tensor_name/mode/shape/dtype`,
  `set_input_shape`, `set_tensor_address`, `execute_async_v3(stream_handle)` (samples/python/common_runtime.py;
  "Migrating Python Code from TensorRT 8.x to 10.x", docs.nvidia.com/deeplearning/tensorrt).
- `IBuilderConfig.max_workspace_size` up to 8.x (setMaxWorkspaceSize deprecated in 8.3, removed in 10.0);
  `set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, n)` from 8.3/8.4 (TensorRT 8.4 C++ API "deprecated" list).
- `NetworkDefinitionCreationFlag.EXPLICIT_BATCH` is required by the ONNX parser before 10.0 (`Builder.max_batch_size`,
  i.e. implicit batch, exists there), deprecated and ignored in 10.x, absent in 11.x
  (samples/python/efficientdet/build_engine.py; Builder docs 10.x; TensorRT 11.0.0 release notes).
- `build_serialized_network` exists from 8.0; `build_engine` was removed in 10.0.
- 11.x removed `BuilderFlag.FP16/INT8/...`, `IBuilderConfig.int8_calibrator`, the IInt8*Calibrator classes and
  `platform_has_fast_fp16/int8`: networks are always strongly typed ("Migrating from TensorRT 10.x to 11.x",
  "Removed Python APIs and Replacements" for 11.x). Calibrators were deprecated in 10.1.
- Plugins: `trt.init_libnvinfer_plugins(logger, "")` and `ctypes.CDLL(lib)` before parsing or deserializing
  (samples/python/onnx_custom_plugin/load_plugin_lib.py, efficientdet/build_engine.py).
"""
import collections
import ctypes
import os
import threading
import weakref

from ..errors import EngineError
from ..log import logger

INSTALL_HINT = ("TensorRT is not installed (no Python module 'tensorrt'): on a Jetson it comes with JetPack "
                "(sudo apt install python3-libnvinfer); on a desktop GPU: pip install tensorrt "
                "(NVIDIA's packages, https://pypi.nvidia.com)")

_lock = threading.Lock()
_per_module = weakref.WeakKeyDictionary()  # tensorrt module -> {"logger", "plugins_ready", "libs"}


def import_tensorrt():
    """The tensorrt module; EngineError with how to install it where it is missing."""
    try:
        import tensorrt
    except ImportError:
        raise EngineError(INSTALL_HINT)
    return tensorrt


def version(trt):
    # type: (object) -> str
    return str(getattr(trt, "__version__", "unknown"))


def _route(errors, severity, msg):
    """A TensorRT log record -> loguru (DEBUG; INFO and below at TRACE); errors are also kept in `errors`."""
    name = getattr(severity, "name", str(severity)).split(".")[-1]
    msg = " ".join(str(msg).split())
    if name in ("INTERNAL_ERROR", "ERROR"):
        errors.append(msg)
        logger.debug("TensorRT error: {}", msg)
    elif name == "WARNING":
        logger.debug("TensorRT warning: {}", msg)
    else:
        logger.trace("TensorRT: {}", msg)


def _module_state(trt):
    st = _per_module.get(trt)
    if st is None:
        st = _per_module[trt] = {"logger": None, "plugins_ready": False, "libs": set()}
    return st


def trt_logger(trt):
    """The process-wide trt.ILogger of this tensorrt module (routes to loguru, keeps recent errors)."""
    with _lock:
        st = _module_state(trt)
        if st["logger"] is None:

            class TrafficpipeTrtLogger(trt.ILogger):
                """TensorRT messages to loguru; `errors` keeps the recent error messages for one-line reports."""

                def __init__(self):
                    trt.ILogger.__init__(self)
                    self.errors = collections.deque(maxlen=20)

                def log(self, severity, msg):
                    _route(self.errors, severity, msg)

            st["logger"] = TrafficpipeTrtLogger()
        return st["logger"]


def error_summary(lg, default):
    # type: (object, str) -> str
    """The first two telling TensorRT errors logged since the last call (one line), else `default`."""
    errs = list(lg.errors)
    lg.errors.clear()
    if not errs:
        return default
    telling = [e for e in errs if "Error Code 4: Internal Error (Engine deserialization failed" not in e] or errs
    return "; ".join(telling[:2])[:600]


def load_plugins(trt, lg, plugin_libs=()):
    """Register TensorRT's built-in plugins and load extra plugin libraries (before parsing or deserializing)."""
    with _lock:
        st = _module_state(trt)
        if not st["plugins_ready"]:
            if hasattr(trt, "init_libnvinfer_plugins"):
                trt.init_libnvinfer_plugins(lg, "")
            st["plugins_ready"] = True
        for path in plugin_libs or ():
            path = os.path.abspath(os.path.expanduser(path))
            if path in st["libs"]:
                continue
            if not os.path.isfile(path):
                raise EngineError("TensorRT plugin library %s does not exist" % path)
            try:
                ctypes.CDLL(path, mode=getattr(ctypes, "RTLD_GLOBAL", 0))
            except OSError as e:
                raise EngineError("cannot load TensorRT plugin library %s: %s" % (path, str(e).splitlines()[0]))
            st["libs"].add(path)
            logger.debug("loaded TensorRT plugin library {}", path)


# -- feature detection ---------------------------------------------------------------------------------------------
def has_tensor_api(engine):
    # type: (object) -> bool
    """Named I/O tensors (8.5+, the only API from 10.0)."""
    return hasattr(engine, "num_io_tensors")


def has_precision_flags(trt):
    # type: (object) -> bool
    """BuilderFlag.FP16/INT8 exist (up to 10.x; removed in 11.x, where networks are strongly typed)."""
    return hasattr(trt, "BuilderFlag") and hasattr(trt.BuilderFlag, "FP16")


def has_calibrators(trt):
    # type: (object) -> bool
    return has_precision_flags(trt) and hasattr(trt, "IInt8EntropyCalibrator2") and hasattr(trt.BuilderFlag, "INT8")


def network_flags(trt, builder):
    # type: (object, object) -> int
    """create_network flags: EXPLICIT_BATCH where implicit batch still exists (before 10.0), else 0."""
    F = getattr(trt, "NetworkDefinitionCreationFlag", None)
    if F is not None and hasattr(F, "EXPLICIT_BATCH") and hasattr(builder, "max_batch_size"):
        return 1 << int(F.EXPLICIT_BATCH)
    return 0


def set_workspace(trt, config, nbytes):
    """Limit the builder's workspace: set_memory_pool_limit from 8.3/8.4, max_workspace_size before."""
    if hasattr(config, "set_memory_pool_limit") and hasattr(trt, "MemoryPoolType"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(nbytes))
        return "set_memory_pool_limit"
    config.max_workspace_size = int(nbytes)
    return "max_workspace_size"


def uses_pool_api(trt, config):
    # type: (object, object) -> bool
    return hasattr(config, "set_memory_pool_limit") and hasattr(trt, "MemoryPoolType")


def fast_int8(builder, compute_capability):
    # type: (object, tuple) -> bool
    """Whether this GPU has fast INT8 (builder query where it exists, else compute capability 6.1 or >= 7.0)."""
    if hasattr(builder, "platform_has_fast_int8"):
        return bool(builder.platform_has_fast_int8)
    cc = tuple(compute_capability)
    return cc == (6, 1) or cc >= (7, 0)


def fast_fp16(builder, compute_capability):
    # type: (object, tuple) -> bool
    if hasattr(builder, "platform_has_fast_fp16"):
        return bool(builder.platform_has_fast_fp16)
    cc = tuple(compute_capability)
    return cc in ((5, 3), (6, 0), (6, 2)) or cc >= (7, 0)
