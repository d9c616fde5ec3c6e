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
  (samples/python/onnx_custom_plugin/load_plugin_lib.py, efficientdet/build_engine.py). A custom plugin library
  registers its creators when loaded (REGISTER_TENSORRT_PLUGIN static registrars); a build of libnvinfer_plugin
  registers nothing on load, only in its exported `initLibNvInferPlugins(void* logger, const char* namespace)`, and
  a creator already registered under the same name and version is never replaced (plugin/InferPlugin.cpp).
- Optimization profiles: on a dynamic-shape engine each execution context in concurrent use needs its own profile
  before 10.0; the first context gets profile 0, the others -1 until `set_optimization_profile_async(k, stream)`
  (NvInferRuntime.h 8.2.1, ICudaEngine::createExecutionContext, IExecutionContext::getOptimizationProfile; 8.6.1: 0
  when no other context holds it). 8.6 shares one profile with PreviewFeature.PROFILE_SHARING_0806, 10.0 shares by
  default ("profileSharing0806 is on by default in TensorRT 10.0", samples/common/sampleOptions.cpp). With K
  profiles the bindings API has K * n_io bindings; profile k uses indices k * n_io + i, named "name [profile k]".
- `trt.nptype` of 8.2 builds its table with `np.bool`, which numpy 1.24-1.26 lack (numpy 2.0 has it again).
"""
import collections
import ctypes
import os
import threading
import weakref

import numpy as np

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
    """Load extra plugin libraries and register TensorRT's built-in plugins (before parsing or deserializing).

    A library that exports initLibNvInferPlugins (a build of libnvinfer_plugin, e.g. TensorRT OSS for TLT/TAO) has
    it called before TensorRT's own: TensorRT never replaces a registered creator, so only that order makes its
    creators the ones plans get. Other libraries register their creators when loaded."""
    with _lock:
        st = _module_state(trt)
        for path in plugin_libs or ():
            path = os.path.abspath(os.path.expanduser(path))
            if path in st["libs"]:
                continue
            if not os.path.isfile(path):
                raise EngineError("TensorRT plugin library %s does not exist" % path)
            try:
                lib = ctypes.CDLL(path, mode=getattr(ctypes, "RTLD_GLOBAL", 0))
            except OSError as e:
                raise EngineError("cannot load TensorRT plugin library %s: %s" % (path, str(e).splitlines()[0]))
            st["libs"].add(path)
            init = getattr(lib, "initLibNvInferPlugins", None)
            if init is not None:
                if st["plugins_ready"]:
                    logger.warning("{}: TensorRT's own plugins are already registered in this process, so this "
                                   "library only adds creators they lack; to replace them, install it in place of "
                                   "TensorRT's libnvinfer_plugin", path)
                init.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
                init.restype = ctypes.c_bool
                if not init(None, b""):
                    raise EngineError("TensorRT plugin library %s: initLibNvInferPlugins failed" % path)
            logger.debug("loaded TensorRT plugin library {}{}", path, " (initLibNvInferPlugins)" if init else "")
        if not st["plugins_ready"]:
            if hasattr(trt, "init_libnvinfer_plugins"):
                trt.init_libnvinfer_plugins(lg, "")
                if st["libs"]:  # creators a library registered first are refused (kept), with an error each
                    error_summary(lg, "")
            st["plugins_ready"] = True


def np_dtype(trt, dtype):
    # type: (object, object) -> np.dtype
    """The numpy dtype of a TensorRT DataType: trt.nptype, or this table where trt.nptype fails (8.2 on numpy
    1.24-1.26, whose table needs np.bool)."""
    try:
        return np.dtype(trt.nptype(dtype))
    except AttributeError:
        name = getattr(dtype, "name", str(dtype)).split(".")[-1]
        if name not in _NP_TYPES:
            raise EngineError("TensorRT data type %s has no numpy equivalent" % name)
        return np.dtype(_NP_TYPES[name])


_NP_TYPES = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32, "BOOL": np.bool_,
             "UINT8": np.uint8, "INT64": np.int64}


# -- feature detection ---------------------------------------------------------------------------------------------
def has_tensor_api(engine):
    # type: (object) -> bool
    """Named I/O tensors (8.5+, the only API from 10.0)."""
    return hasattr(engine, "num_io_tensors")


def shares_profiles(engine):
    # type: (object) -> bool
    """Execution contexts share optimization profiles by default (10.0+: no bindings API left)."""
    return not hasattr(engine, "num_bindings")


def profile_sharing(trt):
    # type: (object) -> str
    """How a plan built here lets several execution contexts run: "default" (10.0+ share profiles), "preview"
    (8.6: PreviewFeature.PROFILE_SHARING_0806), or None (8.0-8.5: one optimization profile per context)."""
    if not hasattr(getattr(trt, "ICudaEngine", None), "num_bindings"):
        return "default"
    if hasattr(getattr(trt, "PreviewFeature", None), "PROFILE_SHARING_0806"):
        return "preview"
    return None


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
