"""The implementation of the TensorRT conformance double (see __init__.py for what it models and why).

Every class here is written once with the union of the generations' API; `make_module(gen)` copies each class
without the members that generation lacks, so `hasattr` and calls behave as on the real module (AttributeError for a
removed method or enum member, AttributeError when setting an attribute the real pybind11 class does not have).
Messages logged for failures copy the shape of TensorRT's own (version mismatch, missing plugin, parser errors...).

Sources quoted below (NVIDIA/TensorRT, the versions read):
- include/NvInferRuntime.h of 8.2 (commit 0a4ed147): ICudaEngine::getNbBindings, getBindingIndex, getBindingName
  ("[profile k]"), getProfileDimensions, createExecutionContext; class IExecutionContext, setOptimizationProfile,
  getOptimizationProfile, setBindingDimensions, getBindingDimensions, enqueueV2, setOptimizationProfileAsync.
- the getOptimizationProfile text of 8.6/10.x ("implicitly to 0 if no other execution context has been set to
  profile 0 ... This behavior is deprecated in TensorRT 8.6, all profiles will default to optimization profile 0"),
  as it stands in a copy of the 10.x header; trtexec's samples/common/sampleOptions.cpp of 10.x ("profileSharing0806
  is on by default in TensorRT 10.0. This flag is deprecated and has no effect.").
- python/src/infer/pyCore.cpp (commits 052281f0 and 768d994b): context_set_optimization_profile_async raises
  RuntimeError("Error in set optimization profile async.") when setOptimizationProfileAsync fails.
- python/src/infer/pyInt8.cpp (commit 0a4ed147): pyCalibratorTrampoline::getBatch memcpy of nbBindings pointers.
- plugin/InferPlugin.cpp (commit 052281f0): creators are registered only in initLibNvInferPlugins; "attempts of
  duplicate registration are ignored".
- python/packaging/tensorrt/__init__.py of 8.x: nptype's table with `bool: np.bool`.
"""
import hashlib
import json
import os
import struct
import sys
import tempfile
import threading
import types
import weakref

import numpy as np
import onnx  # imported once here: tests may hide the onnx package from trafficpipe (Jetson without onnx)

PLAN_MAGIC = b"FAKE-TENSORRT-PLAN\n"
PLUGIN_LIB_MAGIC = b"FAKE-TRT-PLUGIN-LIB\n"

#: What differs between the generations the double models (TensorRT 8.2 as in JetPack 4.6, 8.6, 10.x, 11.x).
#: `profile_sharing`: how execution contexts of a dynamic-shape engine get optimization profiles (see
#: IExecutionContext below): None = one profile per context in use (8.0-8.5), "preview" = the same unless the plan
#: was built with PreviewFeature.PROFILE_SHARING_0806 (8.6), "default" = every context may use profile 0 (10.0+).
#: `dtypes`: DataType members (kUINT8 came with 8.5, kFP8 with 8.6, kBF16 with 9.0, kINT64/kINT4 with 10.0).
#: `preview`: PreviewFeature members (the enum came with 8.5; PROFILE_SHARING_0806 with 8.6).
GENERATIONS = {
    "8.2": {"version": "8.2.1.8", "bindings_api": True, "tensor_api": False, "implicit_batch": True,
            "workspace_attr": True, "memory_pools": False, "precision_flags": True, "calibrators": True,
            "platform_queries": True, "explicit_batch_flag": True, "strongly_typed_flag": False,
            "build_engine": True, "profile_sharing": None, "int64": False,
            "dtypes": ("FLOAT", "HALF", "INT8", "INT32", "BOOL"), "preview": ()},
    "8.6": {"version": "8.6.1.6", "bindings_api": True, "tensor_api": True, "implicit_batch": True,
            "workspace_attr": True, "memory_pools": True, "precision_flags": True, "calibrators": True,
            "platform_queries": True, "explicit_batch_flag": True, "strongly_typed_flag": False,
            "build_engine": True, "profile_sharing": "preview", "int64": False,
            "dtypes": ("FLOAT", "HALF", "INT8", "INT32", "BOOL", "UINT8", "FP8"),
            "preview": ("FASTER_DYNAMIC_SHAPES_0805", "DISABLE_EXTERNAL_TACTIC_SOURCES_FOR_CORE_0805",
                        "PROFILE_SHARING_0806")},
    "10": {"version": "10.3.0.26", "bindings_api": False, "tensor_api": True, "implicit_batch": False,
           "workspace_attr": False, "memory_pools": True, "precision_flags": True, "calibrators": True,
           "platform_queries": True, "explicit_batch_flag": True, "strongly_typed_flag": True,
           "build_engine": False, "profile_sharing": "default", "int64": True,
           "dtypes": ("FLOAT", "HALF", "INT8", "INT32", "BOOL", "UINT8", "FP8", "BF16", "INT64", "INT4"),
           "preview": ("PROFILE_SHARING_0806", "ALIASED_PLUGIN_IO_10_03")},
    "11": {"version": "11.0.0.9", "bindings_api": False, "tensor_api": True, "implicit_batch": False,
           "workspace_attr": False, "memory_pools": True, "precision_flags": False, "calibrators": False,
           "platform_queries": False, "explicit_batch_flag": False, "strongly_typed_flag": True,
           "build_engine": False, "profile_sharing": "default", "int64": True,
           "dtypes": ("FLOAT", "HALF", "INT8", "INT32", "BOOL", "UINT8", "FP8", "BF16", "INT64", "INT4"),
           "preview": ("PROFILE_SHARING_0806", "ALIASED_PLUGIN_IO_10_03", "RUNTIME_ACTIVATION_RESIZE_10_10")},
}

#: Plugin creators that `init_libnvinfer_plugins` registers (a subset of libnvinfer_plugin's initLibNvInferPlugins
#: list, plugin/InferPlugin.cpp; BatchTilePlugin_TRT and NMS_TRT are the ones TLT/TAO SSD plans need).
BUILTIN_PLUGINS = ("BatchTilePlugin_TRT", "NMS_TRT", "BatchedNMS_TRT", "BatchedNMSDynamic_TRT", "EfficientNMS_TRT",
                   "GridAnchor_TRT", "GridAnchorRect_TRT", "PriorBox_TRT", "Normalize_TRT", "ResizeNearest_TRT",
                   "CropAndResize")
#: The registry origin of TensorRT's own plugin library (`plugin_origin`).
STOCK_PLUGIN_LIBRARY = "libnvinfer_plugin (TensorRT's own)"


class FakeTensorRTMisuse(AssertionError):
    """A call sequence the real TensorRT leaves undefined (it would corrupt results silently); the double fails loudly."""


class FakePlanError(RuntimeError):
    """A limit of the double itself (e.g. a plan whose ONNX file is gone)."""


# -- enums ---------------------------------------------------------------------------------------------------------
class _EnumValue(int):
    def __new__(cls, enum, name, value):
        o = int.__new__(cls, value)
        o.name = name
        o._enum = enum
        return o

    def __repr__(self):
        return "<%s.%s: %d>" % (self._enum, self.name, int(self))

    def __str__(self):
        return "%s.%s" % (self._enum, self.name)


def _enum(qualname, names, values=None):
    members = {}
    for i, n in enumerate(names):
        members[n] = _EnumValue(qualname, n, i if values is None else values[i])
    d = dict(members)
    d["__members__"] = members
    return type(qualname.split(".")[-1], (object,), d)


def _dtype_enum(gen):
    return _enum("tensorrt.DataType", list(GENERATIONS[gen]["dtypes"]))


_NP = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32, "BOOL": np.bool_,
       "UINT8": np.uint8, "INT64": np.int64}

_ONNX_TO_TRT = {1: "FLOAT", 10: "HALF", 3: "INT8", 6: "INT32", 7: "INT64", 9: "BOOL", 2: "UINT8"}


# -- base object ---------------------------------------------------------------------------------------------------
class _Obj(object):
    """A pybind11-like object: unknown attributes cannot be set; context managers are accepted (no-ops since 8.0)."""

    _state = None

    def __setattr__(self, key, value):
        if key.startswith("_"):
            object.__setattr__(self, key, value)
            return
        prop = getattr(type(self), key, None)
        if isinstance(prop, property):
            if prop.fset is None:
                raise AttributeError("can't set attribute '%s' of tensorrt.%s" % (key, type(self).__name__))
            prop.fset(self, value)
            return
        raise AttributeError("'tensorrt.tensorrt.%s' object has no attribute '%s'" % (type(self).__name__, key))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _log(logger, sev_name, msg):
    sev = getattr(type(logger).Severity if hasattr(type(logger), "Severity") else logger.Severity, sev_name)
    logger.log(sev, msg)


def _check_logger(state, logger):
    if not isinstance(logger, state.mod.ILogger):
        raise TypeError("__init__(): incompatible constructor arguments; logger must be a tensorrt.ILogger")
    if not getattr(logger, "_trt_init", False):
        raise TypeError("tensorrt.ILogger.__init__() must be called when overriding __init__")


def _driver():
    return sys.modules.get("pycuda.driver")


def _current_device():
    """(name, compute capability) of the current CUDA device: the fake pycuda's, or a real GPU's (real pycuda)."""
    drv = _driver()
    w = getattr(drv, "_world", None)
    if w is not None:
        return w.name, tuple(w.cc)
    if drv is not None and hasattr(drv, "Context"):
        try:
            dev = drv.Context.get_device()
        except Exception:
            dev = drv.Device(0)
        return str(dev.name()), tuple(dev.compute_capability())
    return "Fake GPU", (8, 6)


def _world():
    """The fake pycuda's device, or None when the real pycuda is installed (a real GPU holds the buffers)."""
    drv = _driver()
    w = getattr(drv, "_world", None)
    if w is None and (drv is None or not hasattr(drv, "memcpy_dtoh")):
        raise FakePlanError("the TensorRT double runs engines on pycuda memory: install fake_pycuda (or real pycuda)")
    return w


def _read(ptr, nbytes):
    """A copy of `nbytes` device bytes at `ptr` (fake device memory, or a real GPU's through pycuda)."""
    w = _world()
    if w is not None:
        return w.device_bytes(ptr, nbytes).copy()
    out = np.empty(int(nbytes), np.uint8)
    _driver().memcpy_dtoh(out, int(ptr))
    return out


def _write(ptr, data):
    w = _world()
    data = np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    if w is not None:
        w.device_bytes(ptr, data.size)[:] = data
    else:
        _driver().memcpy_htod(int(ptr), data)


def _fast_fp16(cc):
    return cc in ((5, 3), (6, 0), (6, 2)) or cc >= (7, 0)


def _fast_int8(cc):
    return cc == (6, 1) or cc >= (7, 0)


def _version_int(version):
    p = [int(x) for x in version.split(".")[:3]]
    return p[0] * 1000 + p[1] * 100 + p[2]


# -- logger --------------------------------------------------------------------------------------------------------
class ILogger(object):
    def __init__(self):
        self._trt_init = True

    def log(self, severity, msg):
        raise NotImplementedError


class Logger(ILogger):
    """The stock logger: keeps messages at or above `min_severity` in `.messages` (the real one prints them)."""

    def __init__(self, min_severity=None):
        ILogger.__init__(self)
        self.min_severity = self.Severity.WARNING if min_severity is None else min_severity
        self.messages = []

    def log(self, severity, msg):
        if int(severity) <= int(self.min_severity):
            self.messages.append((severity, msg))


# -- builder side --------------------------------------------------------------------------------------------------
class ITensor(_Obj):
    def __init__(self, name, shape, dtype):
        self._name, self._shape, self._dtype = name, tuple(shape), dtype

    name = property(lambda s: s._name)
    shape = property(lambda s: s._state.mod.Dims(s._shape))
    dtype = property(lambda s: s._dtype)


class INetworkDefinition(_Obj):
    def __init__(self, explicit, strongly_typed):
        self._explicit = explicit
        self._strongly_typed = strongly_typed
        self._inputs = []
        self._outputs = []
        self._onnx_path = None
        self._onnx_sha = None
        self._plugins = []
        self._layers = 0
        self._name = ""

    num_inputs = property(lambda s: len(s._inputs))
    num_outputs = property(lambda s: len(s._outputs))
    num_layers = property(lambda s: s._layers)
    has_implicit_batch_dimension = property(lambda s: not s._explicit)
    name = property(lambda s: s._name, lambda s, v: setattr(s, "_name", v))

    def get_input(self, index):
        return self._inputs[index]

    def get_output(self, index):
        return self._outputs[index]


class ParserError(_Obj):
    def __init__(self, code, desc, node=-1, node_name="", op="", func="parseGraph"):
        self._code, self._desc, self._node, self._node_name, self._op, self._func = code, desc, node, node_name, op, func

    def code(self):
        return self._code

    def desc(self):
        return self._desc

    def node(self):
        return self._node

    def node_name(self):
        return self._node_name

    def node_operator(self):
        return self._op

    def func(self):
        return self._func

    def file(self):
        return "ModelImporter.cpp"

    def line(self):
        return 0

    def __str__(self):
        if "node_name" in type(self).__dict__:  # 10.x / 11.x format
            return "In node %d with name: %s and operator: %s (%s): %s: %s" % (
                self._node, self._node_name, self._op, self._func, self._code.name, self._desc)
        return "In node %d (%s): %s: %s" % (self._node, self._func, self._code.name, self._desc)


class OnnxParser(_Obj):
    def __init__(self, network, logger):
        _check_logger(self._state, logger)
        self._network = network
        self._logger = logger
        self._errors = []

    num_errors = property(lambda s: len(s._errors))

    def get_error(self, index):
        return self._errors[index]

    def clear_errors(self):
        self._errors = []

    def parse_from_file(self, model):
        with open(model, "rb") as f:
            return self.parse(f.read(), model)

    def _error(self, code, desc, **kw):
        err = self._state.mod.ParserError(getattr(self._state.mod.ErrorCode, code), desc, **kw)
        self._errors.append(err)
        _log(self._logger, "ERROR", "ModelImporter.cpp: " + str(err))

    def parse(self, model, path=None):
        net = self._network
        state = self._state
        if not net._explicit:
            self._error("INVALID_GRAPH", "Assertion failed: !mImporterCtx.network()->hasImplicitBatchDimension() && "
                        "\"This version of the ONNX parser only supports TensorRT INetworkDefinitions with an explicit "
                        "batch dimension. Please ensure the network was created using the EXPLICIT_BATCH "
                        "NetworkDefinitionCreationFlag.\"")
            return False
        data = bytes(model)
        try:
            m = onnx.load_from_string(data)
            if not m.graph.node:
                raise ValueError("empty graph")
        except Exception:
            self._error("MODEL_DESERIALIZE_FAILED", "Failed to parse the ONNX model.", func="parse")
            return False
        registered = state.plugins
        ok = True
        plugins = []
        for i, node in enumerate(m.graph.node):
            if node.domain in ("", "ai.onnx") and onnx.defs.has(node.op_type):
                continue
            if node.op_type in registered:
                plugins.append(node.op_type)
                continue
            ok = False
            self._error("UNSUPPORTED_NODE", "Assertion failed: creator && \"Plugin not found, are the plugin name, "
                        "version, and namespace correct?\"", node=i, node_name=node.name, op=node.op_type,
                        func="importFallbackPluginImporter")
        if not ok:
            return False
        inits = {x.name for x in m.graph.initializer}
        mod = state.mod

        def conv(vi):
            t = vi.type.tensor_type
            name = _ONNX_TO_TRT.get(t.elem_type, "FLOAT")
            if name == "INT64" and not state.spec["int64"]:
                _log(self._logger, "WARNING", "onnx2trt_utils.cpp:366: Your ONNX model has been generated with "
                     "INT64 weights, while TensorRT does not natively support INT64. Attempting to cast down to INT32.")
                name = "INT32"
            if name not in mod.DataType.__members__:  # e.g. a UINT8 network input before 8.5
                return None
            shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim)
            return mod.ITensor(vi.name, shape, getattr(mod.DataType, name))

        ios = [vi for vi in m.graph.input if vi.name not in inits] + list(m.graph.output)
        tensors = [conv(vi) for vi in ios]
        for vi, t in zip(ios, tensors):
            if t is None:
                self._error("UNSUPPORTED_GRAPH", "Assertion failed: convertDtype(onnxDtype.elem_type(), &trtDtype) "
                            "&& \"Failed to convert ONNX date type to TensorRT data type.\" (%s has ONNX type %d)"
                            % (vi.name, vi.type.tensor_type.elem_type), func="importInput")
                return False
        n_in = len([vi for vi in m.graph.input if vi.name not in inits])
        net._inputs = tensors[:n_in]
        net._outputs = tensors[n_in:]
        net._layers = len(m.graph.node)
        net._plugins = plugins
        net._onnx_sha = hashlib.sha256(data).hexdigest()
        if path is None or not os.path.isfile(path):
            d = os.path.join(tempfile.gettempdir(), "fake_tensorrt_onnx")
            if not os.path.isdir(d):
                os.makedirs(d)
            path = os.path.join(d, net._onnx_sha + ".onnx")
            if not os.path.isfile(path):
                with open(path, "wb") as f:
                    f.write(data)
        net._onnx_path = os.path.abspath(path)
        state.events.append(("parse", net._onnx_path))
        return True


class IOptimizationProfile(_Obj):
    def __init__(self):
        self._shapes = {}

    def set_shape(self, input, min, opt, max):
        self._shapes[input] = [list(int(d) for d in min), list(int(d) for d in opt), list(int(d) for d in max)]

    def get_shape(self, input):
        return self._shapes.get(input, [])

    def __bool__(self):
        return all(all(a <= b <= c for a, b, c in zip(*s)) for s in self._shapes.values())

    __nonzero__ = __bool__


class IInt8Calibrator(object):
    def __init__(self):
        self._trt_init = True

    def get_batch_size(self):
        return 1

    def get_batch(self, names):
        return None

    def read_calibration_cache(self):
        return None

    def write_calibration_cache(self, cache):
        pass


class IInt8EntropyCalibrator2(IInt8Calibrator):
    def get_algorithm(self):
        return self._state.mod.CalibrationAlgoType.ENTROPY_CALIBRATION_2


class IInt8MinMaxCalibrator(IInt8Calibrator):
    def get_algorithm(self):
        return self._state.mod.CalibrationAlgoType.MINMAX_CALIBRATION


class IBuilderConfig(_Obj):
    def __init__(self):
        self._flags = set()
        self._profiles = []
        self._workspace = 0
        self._pools = {}
        self._calibrator = None
        self._calib_profile = None
        self._preview = set()

    # 8.5+ (PreviewFeature)
    def set_preview_feature(self, feature, enable):
        if not isinstance(feature, _EnumValue) or feature._enum != "tensorrt.PreviewFeature":
            raise TypeError("set_preview_feature(): incompatible function arguments")
        if enable:
            self._preview.add(feature.name)
        else:
            self._preview.discard(feature.name)

    def get_preview_feature(self, feature):
        if self._state.spec["profile_sharing"] == "default" and feature.name == "PROFILE_SHARING_0806":
            return True  # "profileSharing0806 is on by default in TensorRT 10.0" (samples/common/sampleOptions.cpp)
        return feature.name in self._preview

    # 8.0 - 8.x (removed in 10.0)
    def _get_ws(self):
        return self._workspace

    def _set_ws(self, v):
        self._workspace = int(v)

    max_workspace_size = property(_get_ws, _set_ws)

    # 8.3+ (memory pools)
    def set_memory_pool_limit(self, pool, pool_size):
        if not isinstance(pool, _EnumValue) or pool._enum != "tensorrt.MemoryPoolType":
            raise TypeError("set_memory_pool_limit(): incompatible function arguments")
        self._pools[pool.name] = int(pool_size)

    def get_memory_pool_limit(self, pool):
        return self._pools.get(pool.name, _world_total())

    def set_flag(self, flag):
        if not isinstance(flag, _EnumValue) or flag._enum != "tensorrt.BuilderFlag":
            raise TypeError("set_flag(): incompatible function arguments")
        self._flags.add(flag.name)

    def clear_flag(self, flag):
        self._flags.discard(flag.name)

    def get_flag(self, flag):
        return flag.name in self._flags

    def add_optimization_profile(self, profile):
        if not profile:
            return -1
        self._profiles.append(profile)
        return len(self._profiles) - 1

    num_optimization_profiles = property(lambda s: len(s._profiles))

    def _get_cal(self):
        return self._calibrator

    def _set_cal(self, cal):
        if cal is not None:
            if not isinstance(cal, self._state.mod.IInt8Calibrator):
                raise TypeError("int8_calibrator: incompatible type %s" % type(cal).__name__)
            if not getattr(cal, "_trt_init", False):
                raise TypeError("tensorrt.IInt8EntropyCalibrator2.__init__() must be called when overriding __init__")
        self._calibrator = cal

    int8_calibrator = property(_get_cal, _set_cal)

    def set_calibration_profile(self, profile):
        self._calib_profile = profile
        return True

    def get_calibration_profile(self):
        return self._calib_profile


def _world_total():
    drv = sys.modules.get("pycuda.driver")
    w = getattr(drv, "_world", None)
    return w.total if w is not None else 8 << 30


class IHostMemory(bytes):
    """A serialized engine: supports the buffer protocol (write it to a file, pass it to deserialize)."""

    @property
    def nbytes(self):
        return len(self)


class Builder(_Obj):
    def __init__(self, logger):
        _check_logger(self._state, logger)
        self._logger = logger
        self._max_batch = 1
        self._state.events.append(("builder",))

    def _get_mbs(self):
        return self._max_batch

    def _set_mbs(self, v):
        self._max_batch = int(v)

    max_batch_size = property(_get_mbs, _set_mbs)
    platform_has_fast_fp16 = property(lambda s: _fast_fp16(_current_device()[1]))
    platform_has_fast_int8 = property(lambda s: _fast_int8(_current_device()[1]))
    platform_has_tf32 = property(lambda s: _current_device()[1] >= (8, 0))
    num_DLA_cores = property(lambda s: 0)

    def create_network(self, flags=0):
        state = self._state
        F = state.mod.NetworkDefinitionCreationFlag
        flags = int(flags)
        known = 0
        for v in F.__members__.values():
            known |= 1 << int(v)
        if flags & ~known:
            _log(self._logger, "ERROR", "[network.cpp::NetworkDefinition] Error Code 3: API Usage Error (invalid "
                 "NetworkDefinitionCreationFlags 0x%x)" % flags)
            return None
        explicit = True
        if state.spec["implicit_batch"]:  # 8.x: implicit batch unless EXPLICIT_BATCH is given
            explicit = bool(flags & (1 << int(F.EXPLICIT_BATCH)))
        elif hasattr(F, "EXPLICIT_BATCH") and flags & (1 << int(F.EXPLICIT_BATCH)):
            _log(self._logger, "WARNING", "NetworkDefinitionCreationFlag::kEXPLICIT_BATCH is deprecated and has no "
                 "effect. All networks are explicit batch.")
        strongly = state.gen == "11" or bool(hasattr(F, "STRONGLY_TYPED") and flags & (1 << int(F.STRONGLY_TYPED)))
        return state.mod.INetworkDefinition(explicit, strongly)

    def create_builder_config(self):
        return self._state.mod.IBuilderConfig()

    def create_optimization_profile(self):
        return self._state.mod.IOptimizationProfile()

    def build_serialized_network(self, network, config):
        plan = _build_plan(self._state, self._logger, network, config)
        return None if plan is None else IHostMemory(pack_plan(plan))

    def build_engine(self, network, config):  # 8.x only (deprecated in 8.0, removed in 10.0)
        plan = _build_plan(self._state, self._logger, network, config)
        if plan is None:
            return None
        return self._state.mod.Runtime(self._logger).deserialize_cuda_engine(pack_plan(plan))


def _err(logger, msg):
    _log(logger, "ERROR", msg)


def _build_plan(state, logger, network, config):
    state.events.append(("build",))
    if network is None or not network._outputs:
        _err(logger, "4: [network.cpp::validate::2633] Error Code 4: Internal Error (Network must have at least one "
             "output)")
        return None
    if network._onnx_path is None:
        raise FakePlanError("the TensorRT double builds networks parsed from ONNX only")
    dynamic = [t for t in network._inputs if any(d < 0 for d in t._shape)]
    if dynamic and not config._profiles:
        _err(logger, "4: [network.cpp::validate::2965] Error Code 4: Internal Error (Network has dynamic or shape "
             "inputs, but no optimization profile has been defined.)")
        return None
    for k, p in enumerate(config._profiles):
        for t in dynamic:
            s = p._shapes.get(t.name)
            if s is None:
                _err(logger, "4: [network.cpp::validate::3008] Error Code 4: Internal Error (%s: dynamic input is "
                     "missing dimensions in profile %d.)" % (t.name, k))
                return None
            for lo, opt, hi, d in zip(s[0], s[1], s[2], t._shape):
                if d >= 0 and not lo == opt == hi == d:
                    _err(logger, "4: [network.cpp::validate::3030] Error Code 4: Internal Error (%s: profile %d "
                         "differs from the fixed dimension %d)" % (t.name, k, d))
                    return None
    if "PROFILE_SHARING_0806" in config._preview and state.spec["profile_sharing"] == "default":
        _log(logger, "WARNING", "PreviewFeature::kPROFILE_SHARING_0806 is deprecated and has no effect: profile "
             "sharing is on by default in TensorRT 10.0.")
    flags = sorted(config._flags)
    calibration = None
    if "INT8" in flags:
        calibration = _calibrate(state, logger, network, config)
        if calibration is None:
            return None
    ws = config._pools.get("WORKSPACE")
    if ws is None and state.spec["workspace_attr"]:  # 8.x: max_workspace_size (0 until set)
        ws = config._workspace if (config._workspace or not state.spec["memory_pools"]) else None
    name, cc = _current_device()
    io = lambda ts: [{"name": t._name, "shape": list(t._shape), "dtype": t._dtype.name} for t in ts]
    return {
        "version": state.mod.__version__, "device": {"name": name, "cc": list(cc)},
        "onnx_path": network._onnx_path, "onnx_sha256": network._onnx_sha,
        "implicit_batch": False, "max_batch_size": 1, "strongly_typed": network._strongly_typed,
        "inputs": io(network._inputs), "outputs": io(network._outputs),
        "profiles": [{k: v for k, v in p._shapes.items()} for p in config._profiles],
        "flags": flags, "workspace": ws, "calibration": calibration, "plugins": list(network._plugins),
        "preview": sorted(config._preview), "producer": "build_serialized_network",
    }


def _calibrate(state, logger, network, config):
    cal = config._calibrator
    if cal is None:
        _err(logger, "2: [calibrator.cpp::calibrateEngine::1181] Error Code 2: Internal Error (Calibration failure "
             "occurred with no scaling factors detected. This could be due to no int8 calibrator or insufficient "
             "custom scales for network layers. Please see int8 sample to setup calibration correctly.)")
        return None
    header = "TRT-%d-%s" % (_version_int(state.mod.__version__),
                            "EntropyCalibration2" if isinstance(cal, state.mod.IInt8EntropyCalibrator2)
                            else "MinMaxCalibration")
    cache = cal.read_calibration_cache()
    if cache:
        text = bytes(cache).decode("ascii", "replace").splitlines()
        if text and text[0] == header:
            state.events.append(("calibration_cache_used",))
            return {"from_cache": True, "batches": 0, "scales": text[1:]}
        _log(logger, "WARNING", "Calibration cache header %r does not match %r: recalibrating" % (text[:1], header))
    bs = int(cal.get_batch_size())
    names = [t.name for t in network._inputs]
    profile = config._calib_profile or (config._profiles[0] if config._profiles else None)
    shapes = []
    for t in network._inputs:
        if any(d < 0 for d in t._shape):
            opt = profile._shapes[t.name][1]
            shapes.append(tuple([bs] + list(opt[1:])))
        else:
            shapes.append(tuple(t._shape))
    absmax = dict((n, 0.0) for n in names)
    batches = 0
    while True:
        ptrs = cal.get_batch(names)
        if not ptrs:
            break
        if len(ptrs) < len(names):
            # python/src/infer/pyInt8.cpp, pyCalibratorTrampoline::getBatch (8.x-10.x): "std::memcpy(bindings,
            # result.cast<std::vector<size_t>>().data(), nbBindings * sizeof(void*))" with nbBindings = len(names):
            # a shorter list is read past its end and TensorRT reads calibration data from garbage addresses.
            raise FakeTensorRTMisuse("get_batch(%s) returned %d pointer(s): the trampoline copies len(names) = %d "
                                     "pointers and would read past the end of the list" % (names, len(ptrs),
                                                                                          len(names)))
        for n, p, shape, t in zip(names, ptrs, shapes, network._inputs):
            dt = np.dtype(_NP[t._dtype.name])
            nbytes = int(np.prod(shape)) * dt.itemsize
            x = _read(int(p), nbytes).view(dt).reshape(shape)
            absmax[n] = max(absmax[n], float(np.abs(x).max()))
        batches += 1
    if batches == 0:
        _err(logger, "2: [calibrator.cpp::calibrateEngine::1181] Error Code 2: Internal Error (Calibration failure "
             "occurred with no scaling factors detected. This could be due to no int8 calibrator or insufficient "
             "custom scales for network layers. Please see int8 sample to setup calibration correctly.)")
        return None
    lines = [header] + ["%s: %08x" % (n, struct.unpack("<I", struct.pack("<f", absmax[n] / 127.0))[0]) for n in names]
    cal.write_calibration_cache(("\n".join(lines) + "\n").encode("ascii"))
    state.events.append(("calibrated", batches))
    return {"from_cache": False, "batches": batches, "batch_size": bs, "absmax": absmax}


def pack_plan(plan):
    return PLAN_MAGIC + json.dumps(plan, sort_keys=True).encode("utf-8")


def unpack_plan(data):
    data = bytes(data)
    if not data.startswith(PLAN_MAGIC):
        return None
    return json.loads(data[len(PLAN_MAGIC):].decode("utf-8"))


# -- runtime side --------------------------------------------------------------------------------------------------
class Runtime(_Obj):
    def __init__(self, logger):
        _check_logger(self._state, logger)
        self._logger = logger

    def deserialize_cuda_engine(self, serialized_engine):
        state = self._state
        log = self._logger
        state.events.append(("deserialize",))
        try:
            plan = unpack_plan(serialized_engine)
        except Exception:
            plan = None
        if plan is None:
            _err(log, "1: [stdArchiveReader.cpp::StdArchiveReader::32] Error Code 1: Serialization (Serialization "
                 "assertion magicTagRead == kMAGIC_TAG failed.Magic tag does not match)")
            _err(log, "4: [runtime.cpp::deserializeCudaEngine::50] Error Code 4: Internal Error (Engine "
                 "deserialization failed.)")
            return None
        if plan["version"] != state.mod.__version__:
            _err(log, "6: The engine plan file is not compatible with this version of TensorRT, expecting library "
                 "version %s got %s, please rebuild." % (state.mod.__version__, plan["version"]))
            _err(log, "4: [runtime.cpp::deserializeCudaEngine::50] Error Code 4: Internal Error (Engine "
                 "deserialization failed.)")
            return None
        name, cc = _current_device()
        if list(plan["device"]["cc"]) != list(cc):
            _err(log, "6: The engine plan file is generated on an incompatible device, expecting compute %d.%d got "
                 "compute %d.%d, please rebuild." % (cc[0], cc[1], plan["device"]["cc"][0], plan["device"]["cc"][1]))
            return None
        for p in plan.get("plugins", []):
            if p not in state.plugins:
                _err(log, "getPluginCreator could not find plugin: %s version: 1" % p)
                _err(log, "1: [pluginV2Runner.cpp::load::290] Error Code 1: Serialization (Serialization assertion "
                     "creator failed.Cannot deserialize plugin since corresponding IPluginCreator not found in "
                     "Plugin Registry)")
                return None
        if plan.get("implicit_batch") and not state.spec["implicit_batch"]:
            _err(log, "6: The engine plan file uses implicit batch, which this version of TensorRT removed.")
            return None
        if not os.path.isfile(plan["onnx_path"]):
            raise FakePlanError("fake plan refers to %s, which no longer exists" % plan["onnx_path"])
        state.events.append(("deserialized", plan["onnx_path"]))
        return state.mod.ICudaEngine(plan, log)


_SESSIONS = {}
_SESSIONS_LOCK = threading.Lock()


def _session(path, sha):
    key = (path, sha)
    with _SESSIONS_LOCK:
        s = _SESSIONS.get(key)
        if s is None:
            import onnxruntime as ort
            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            so.inter_op_num_threads = 1
            so.log_severity_level = 3
            s = _SESSIONS[key] = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        return s


def _output_shapes(engine, input_shapes):
    """Resolved output shapes for concrete input shapes, as TensorRT's shape calculation gives them after the input
    shapes are set (IExecutionContext::getTensorShape / getBindingDimensions on an output). Fixed outputs keep their
    declared shape; outputs with a dynamic dimension are resolved by running the graph once on zeros (cached)."""
    outs = [t for t in engine._io if t["mode"] == "OUTPUT"]
    if not any(d < 0 for t in outs for d in t["shape"]):
        return dict((t["name"], tuple(t["shape"])) for t in outs)
    key = tuple(sorted((k, tuple(v)) for k, v in input_shapes.items()))
    got = engine._shape_cache.get(key)
    if got is None:
        sess = _session(engine._plan["onnx_path"], engine._plan["onnx_sha256"])
        feeds = dict((k, np.zeros(v, _NP[engine._io[engine._by_name[k]]["dtype"]])) for k, v in input_shapes.items())
        names = [t["name"] for t in outs]
        got = engine._shape_cache[key] = dict(zip(names, [tuple(r.shape) for r in sess.run(names, feeds)]))
    return got


class ICudaEngine(_Obj):
    """An engine. With K optimization profiles the bindings API has K * n_io bindings: "If the engine has been built
    for K profiles, the first getNbBindings() / K bindings are used by profile number 0, the following
    getNbBindings() / K bindings are used by profile number 1 etc." and "For optimization profiles with an index
    k > 0, the name is mangled by appending " [profile k]"" (NvInferRuntime.h 8.2.1, ICudaEngine::getNbBindings and
    getBindingName). The named-tensor API (8.5+) has n_io tensors, unmangled."""

    def __init__(self, plan, logger):
        self._plan = plan
        self._logger = logger
        # I/O order: inputs first, then outputs in *reverse* network order. TensorRT does not promise that its I/O
        # indices follow the ONNX output order; the double makes code that assumes it fail.
        io = [dict(t, mode="INPUT") for t in plan["inputs"]] + [dict(t, mode="OUTPUT")
                                                               for t in reversed(plan["outputs"])]
        self._io = io
        self._by_name = dict((t["name"], i) for i, t in enumerate(io))
        self._contexts = weakref.WeakSet()  # live execution contexts (destroyed when the last reference goes)
        self._created = 0
        self._shape_cache = {}

    # -- common
    num_optimization_profiles = property(lambda s: max(1, len(s._plan["profiles"])))
    name = property(lambda s: os.path.splitext(os.path.basename(s._plan["onnx_path"]))[0])
    num_layers = property(lambda s: 1)
    device_memory_size = property(lambda s: 1 << 20)

    def serialize(self):
        return IHostMemory(pack_plan(self._plan))

    def _dynamic(self):
        return bool(self._plan["profiles"]) and not self._plan["implicit_batch"]

    def _sharing(self):
        how = self._state.spec["profile_sharing"]
        return how == "default" or (how == "preview" and "PROFILE_SHARING_0806" in self._plan.get("preview", ()))

    def create_execution_context(self):
        ctx = self._state.mod.IExecutionContext(self)
        if not self._dynamic() or self._state.spec["profile_sharing"] == "default":
            # "If the associated CUDA engine does not have inputs with dynamic shapes, this method need not be
            # called, in which case the default profile index of 0 will be used"; 10.x getOptimizationProfile: "This
            # behavior is deprecated in TensorRT 8.6, all profiles will default to optimization profile 0 and -1
            # will no longer be returned."
            ctx._profile = 0
        elif self._state.gen == "8.2":
            # 8.2.1 NvInferRuntime.h, ICudaEngine::createExecutionContext: "The first execution context created will
            # call setOptimizationProfile(0) implicitly. For other execution contexts, setOptimizationProfile() must
            # be called with unique profile index before calling execute or enqueue."; IExecutionContext::
            # getOptimizationProfile: "an invalid value of -1 will be returned and all calls to enqueue() or
            # execute() will fail until a valid profile index has been set."
            ctx._profile = 0 if self._created == 0 else -1
        else:
            # 8.6.1 getOptimizationProfile: "implicitly to 0 if no other execution context has been set to profile 0,
            # or explicitly for all subsequent contexts" -- taken literally, also for a plan built with
            # PROFILE_SHARING_0806, whose contexts may then select profile 0 explicitly although another holds it
            ctx._profile = -1 if any(c._profile == 0 for c in self._contexts) else 0
        self._created += 1
        self._contexts.add(ctx)
        return ctx

    def _index(self, key):
        if isinstance(key, str):
            return self.get_binding_index(key)
        return int(key)

    def _dims(self, t):
        return self._state.mod.Dims(t["shape"])

    def _dtype(self, t):
        return getattr(self._state.mod.DataType, t["dtype"])

    # -- bindings API (8.x; removed in 10.0)
    num_bindings = property(lambda s: len(s._io) * s.num_optimization_profiles)
    max_batch_size = property(lambda s: s._plan["max_batch_size"])
    has_implicit_batch_dimension = property(lambda s: bool(s._plan["implicit_batch"]))

    def _binding(self, index):
        index = int(index)
        if not 0 <= index < self.num_bindings:
            raise IndexError("binding index %d out of range" % index)
        return self._io[index % len(self._io)]

    def __len__(self):
        return self.num_bindings

    def __iter__(self):
        return iter([self.get_binding_name(i) for i in range(self.num_bindings)])

    def __getitem__(self, key):
        if isinstance(key, str):
            return self.get_binding_index(key)
        return self.get_binding_name(key)

    def get_binding_name(self, index):
        k, i = divmod(int(index), len(self._io))
        name = self._binding(index)["name"]
        return name if k == 0 else "%s [profile %d]" % (name, k)

    def get_binding_index(self, name):
        base, k = name, 0
        if name.endswith("]") and " [profile " in name:
            base, _, num = name[:-1].rpartition(" [profile ")
            k = int(num) if num.isdigit() else -1
        i = self._by_name.get(base)
        if i is None or not 0 <= k < self.num_optimization_profiles:
            return -1
        return k * len(self._io) + i

    def binding_is_input(self, index):
        return self._binding(self._index(index))["mode"] == "INPUT"

    def get_binding_shape(self, index):
        return self._dims(self._binding(self._index(index)))

    def get_binding_dtype(self, index):
        return self._dtype(self._binding(self._index(index)))

    def get_profile_shape(self, profile_index, binding):
        # "if the bindingIndex does not belong to the current optimization profile, but is between 0 and
        # bindingsPerProfile-1 ... a corrected bindingIndex is used" (getProfileDimensions)
        t = self._binding(self._index(binding))
        s = self._plan["profiles"][profile_index][t["name"]]
        D = self._state.mod.Dims
        return [D(s[0]), D(s[1]), D(s[2])]

    # -- named tensor API (8.5+, the only one from 10.0)
    num_io_tensors = property(lambda s: len(s._io))

    def get_tensor_name(self, index):
        return self._io[index]["name"]

    def get_tensor_mode(self, name):
        i = self._by_name.get(name)
        M = self._state.mod.TensorIOMode
        return M.NONE if i is None else getattr(M, self._io[i]["mode"])

    def get_tensor_shape(self, name):
        i = self._by_name.get(name)
        if i is None:
            _err(self._logger, "3: [engine.cpp::getTensorShape] Error Code 3: API Usage Error (tensor %s not found)"
                 % name)
            return self._state.mod.Dims(())
        return self._dims(self._io[i])

    def get_tensor_dtype(self, name):
        return self._dtype(self._io[self._by_name[name]])

    def get_tensor_profile_shape(self, name, profile_index):
        s = self._plan["profiles"][profile_index][name]
        D = self._state.mod.Dims
        return [D(s[0]), D(s[1]), D(s[2])]

    # -- compute (ONNX Runtime on the CPU, reading and writing the fake device memory)
    def _compute(self, feeds, outs):
        """feeds/outs: {name: (pointer, shape)}; runs when the stream reaches this work."""
        sess = _session(self._plan["onnx_path"], self._plan["onnx_sha256"])
        arrays = {}
        n = None
        for name, (ptr, shape) in feeds.items():
            dt = np.dtype(_NP[self._io[self._by_name[name]]["dtype"]])
            nbytes = int(np.prod(shape)) * dt.itemsize
            arrays[name] = _read(ptr, nbytes).view(dt).reshape(shape)
            n = shape[0] if shape else 1
        ort_inputs = dict((i.name, i) for i in sess.get_inputs())
        names = list(outs)
        fixed = [ort_inputs[k].shape[0] for k in arrays if k in ort_inputs]
        per_item = bool(fixed) and isinstance(fixed[0], int) and fixed[0] == 1 and n != 1
        if per_item:
            parts = [sess.run(names, dict((k, v[i:i + 1]) for k, v in arrays.items())) for i in range(n)]
            results = [np.concatenate([p[j] for p in parts]) for j in range(len(names))]
        else:
            results = sess.run(names, arrays)
        for name, res in zip(names, results):
            ptr, shape = outs[name]
            dt = np.dtype(_NP[self._io[self._by_name[name]]["dtype"]])
            res = np.ascontiguousarray(res.reshape(shape), dtype=dt) if res.size == int(np.prod(shape)) else None
            if res is None:
                raise FakePlanError("output %s: ONNX Runtime gave a different size than the engine shape %s"
                                    % (name, list(shape)))
            _write(ptr, res)


class IExecutionContext(_Obj):
    """An execution context. Each one in concurrent use on a dynamic-shape engine needs its own optimization profile
    before 10.0: "If the engine supports dynamic shapes, each execution context in concurrent use must use a
    separate optimization profile." (NvInferRuntime.h 8.2.1, class IExecutionContext); the profile index is chosen
    with set_optimization_profile_async, which "must be called with a unique profileIndex before calling execute or
    enqueue (i.e. the profile index may not be in use by another execution context that has not been destroyed
    yet)" (setOptimizationProfile), and it must come before the input shapes: "setOptimizationProfileAsync() must be
    called before calling setBindingDimensions() and setInputShapeBinding()". The Python binding raises
    RuntimeError("Error in set optimization profile async.") when the call fails (python/src/infer/pyCore.cpp,
    lambdas::context_set_optimization_profile_async). Setting input shapes or enqueueing with profile -1 fails:
    "This method will fail unless a valid optimization profile is defined for the current execution context
    (getOptimizationProfile() must not be -1)" (setBindingDimensions)."""

    def __init__(self, engine):
        self._engine = engine
        self._input_shapes = {}
        self._addresses = {}
        self._last = None  # (stream, position) of the last enqueued work
        self._profile = 0
        self._name = ""
        self._debug_sync = False
        engine._state.events.append(("create_execution_context",))

    engine = property(lambda s: s._engine)
    name = property(lambda s: s._name, lambda s, v: setattr(s, "_name", v))
    debug_sync = property(lambda s: s._debug_sync, lambda s, v: setattr(s, "_debug_sync", bool(v)))

    def _log_err(self, msg):
        _err(self._engine._logger, msg)

    def _no_profile(self, what):
        self._log_err("3: [executionContext.cpp::%s] Error Code 3: API Usage Error (Parameter check failed, condition: "
                      "mOptimizationProfile >= 0. No optimization profile has been set for this execution context: "
                      "call setOptimizationProfileAsync with a profile that no other execution context uses.)" % what)

    def _resolved(self, t, batch=None):
        """The full shape of I/O tensor `t` for the current input shapes (None if an input shape is missing)."""
        eng = self._engine
        if eng._plan["implicit_batch"]:
            return tuple([batch] + list(t["shape"]))
        shape = tuple(t["shape"])
        if t["mode"] == "INPUT":
            if any(d < 0 for d in shape):
                return self._input_shapes.get(t["name"])
            return shape
        ins = {}
        for x in eng._io:
            if x["mode"] == "INPUT":
                s = self._resolved(x)
                if s is None:
                    return None
                ins[x["name"]] = s
        return _output_shapes(eng, ins)[t["name"]]

    def _set_shape(self, t, shape, what):
        shape = tuple(int(d) for d in shape)
        if t["mode"] != "INPUT":
            self._log_err("3: API Usage Error (%s is not an input tensor)" % t["name"])
            return False
        if self._profile < 0:
            self._no_profile(what)
            return False
        decl = t["shape"]
        if len(shape) != len(decl) or any(d >= 0 and d != s for d, s in zip(decl, shape)):
            self._log_err("3: [executionContext.cpp::%s] Error Code 3: API Usage Error (Parameter check "
                          "failed, condition: engineDims.d[i] == dims.d[i]. Static dimension mismatch while setting "
                          "input shape for %s.)" % (what, t["name"]))
            return False
        prof = self._engine._plan["profiles"]
        if prof:
            lo, _, hi = prof[self._profile][t["name"]]
            if any(s < a or s > b for s, a, b in zip(shape, lo, hi)):
                self._log_err("3: [executionContext.cpp::%s] Error Code 3: API Usage Error (Parameter "
                              "check failed, condition: satisfyProfile. Set dimension %s for tensor %s does not "
                              "satisfy any optimization profile: min %s max %s)" % (what, list(shape), t["name"],
                                                                                    lo, hi))
                return False
        self._input_shapes[t["name"]] = shape
        return True

    def _enqueue(self, stream_handle, pointers, batch=None):
        """pointers: {name: int} for every I/O tensor. Queues the compute on the stream; False on an API error."""
        eng = self._engine
        if self._profile < 0:
            self._no_profile("enqueueInternal")
            return False
        w = _world()
        if w is None:  # real pycuda on a real GPU: wait for the work queued so far, compute now (synchronously)
            return self._enqueue_real(stream_handle, pointers, batch)
        try:
            stream = w.stream_by_handle(stream_handle)
        except Exception as e:
            self._log_err("1: [executionContext.cpp::enqueue] Error Code 1: Cuda Runtime (%s)" % e)
            return False
        if self._last is not None:
            prev_stream, prev_pos = self._last
            if not w.ordered_after(stream, prev_stream, prev_pos):
                raise FakeTensorRTMisuse(
                    "IExecutionContext enqueued on stream 0x%x while its previous work on stream 0x%x may still run: "
                    "one execution context must not run on several streams at once (make the new stream wait for "
                    "the previous work, or use one context per stream)"
                    % (getattr(stream, "handle", 0), getattr(prev_stream, "handle", 0)))
        feeds, outs = {}, {}
        for t in eng._io:
            shape = self._resolved(t, batch)
            if shape is None:
                self._log_err("3: [executionContext.cpp::enqueueInternal] Error Code 3: API Usage Error (Parameter "
                              "check failed, condition: allInputDimensionsSpecified(routine). Input shape of %s is "
                              "not specified.)" % t["name"])
                return False
            (feeds if t["mode"] == "INPUT" else outs)[t["name"]] = (int(pointers[t["name"]]), shape)
        op = lambda: eng._compute(feeds, outs)
        if stream is None:
            w.drain_all()
            op()
            self._last = None
        else:
            self._last = (stream, stream._enqueue(op))
        eng._state.events.append(("enqueue", getattr(stream, "handle", 0)))
        return True

    def _enqueue_real(self, stream_handle, pointers, batch):
        eng = self._engine
        feeds, outs = {}, {}
        for t in eng._io:
            shape = self._resolved(t, batch)
            if shape is None:
                self._log_err("3: API Usage Error (Input shape of %s is not specified.)" % t["name"])
                return False
            (feeds if t["mode"] == "INPUT" else outs)[t["name"]] = (int(pointers[t["name"]]), shape)
        _driver().Context.synchronize()  # the slot's host->device copies (and any earlier work) are done
        eng._compute(feeds, outs)
        eng._state.events.append(("enqueue", int(stream_handle)))
        return True

    # -- optimization profiles
    def _get_profile(self):
        return self._profile

    def _set_profile(self, v):  # the deprecated synchronous setter (8.x)
        if not self._select_profile(int(v), "setOptimizationProfile"):
            raise RuntimeError("Error in set optimization profile.")

    active_optimization_profile = property(_get_profile, _set_profile)

    def _select_profile(self, k, what):
        eng = self._engine
        n = eng.num_optimization_profiles
        if not 0 <= k < n:
            self._log_err("3: [executionContext.cpp::%s] Error Code 3: API Usage Error (Parameter check failed, "
                          "condition: profileIndex >= 0 && profileIndex < mEngine.getNbOptimizationProfiles(). "
                          "profileIndex %d, %d profile(s))" % (what, k, n))
            return False
        if eng._dynamic() and not eng._sharing() and any(c is not self and c._profile == k for c in eng._contexts):
            self._log_err("3: [executionContext.cpp::%s] Error Code 3: API Usage Error (Profile %d has been chosen by "
                          "another IExecutionContext. Use another profileIndex or destroy the IExecutionContext that "
                          "use this profile.)" % (what, k))
            return False
        self._profile = k
        self._input_shapes = {}
        return True

    def set_optimization_profile_async(self, profile_index, stream_handle):
        w = _world()
        if w is not None and int(stream_handle):
            w.stream_by_handle(stream_handle)  # a stream that does not exist is a CUDA error
        if not self._select_profile(int(profile_index), "setOptimizationProfileAsync"):
            raise RuntimeError("Error in set optimization profile async.")
        return True

    # -- bindings API (8.x)
    def _profile_binding(self, binding, what):
        """The I/O tensor of binding index `binding`, which must belong to the current profile."""
        eng = self._engine
        n_io = len(eng._io)
        b = int(binding)
        if self._profile < 0:
            self._no_profile(what)
            return None
        if not self._profile * n_io <= b < (self._profile + 1) * n_io:
            self._log_err("3: [executionContext.cpp::%s] Error Code 3: API Usage Error (Parameter check failed, "
                          "condition: bindingIndex belongs to the current optimization profile %d (bindings %d-%d), "
                          "got %d)" % (what, self._profile, self._profile * n_io, (self._profile + 1) * n_io - 1, b))
            return None
        return eng._io[b % n_io]

    def set_binding_shape(self, binding, shape):
        t = self._profile_binding(binding, "setBindingDimensions")
        return t is not None and self._set_shape(t, shape, "setBindingDimensions")

    def get_binding_shape(self, binding):
        eng = self._engine
        D = eng._state.mod.Dims
        if self._profile < 0 and eng._dynamic():
            return D(())  # "an invalid Dims with nbDims == -1"
        t = eng._binding(binding)
        s = self._resolved(t)
        return D(s if s is not None else t["shape"])

    all_binding_shapes_specified = property(lambda s: all(s._resolved(t) is not None for t in s._engine._io))
    all_shape_inputs_specified = property(lambda s: True)

    def _binding_pointers(self, bindings):
        eng = self._engine
        n_io = len(eng._io)
        if len(bindings) != eng.num_bindings:
            self._log_err("3: [executionContext.cpp::enqueueV2] Error Code 3: API Usage Error (bindings has %d "
                          "entries, the engine has %d bindings)" % (len(bindings), eng.num_bindings))
            return None
        k = max(self._profile, 0)
        return dict((t["name"], int(bindings[k * n_io + i])) for i, t in enumerate(eng._io))

    def execute_async_v2(self, bindings, stream_handle, input_consumed=None):
        if self._engine._plan["implicit_batch"]:
            self._log_err("3: [executionContext.cpp::enqueueV2] Error Code 3: API Usage Error (Parameter check "
                          "failed, condition: !mEngine.hasImplicitBatchDimension(). enqueueV2 needs an engine built "
                          "with an explicit batch dimension: use enqueue(batchSize, ...))")
            return False
        ptrs = self._binding_pointers(bindings)
        return ptrs is not None and self._enqueue(stream_handle, ptrs)

    def execute_v2(self, bindings):
        ok = self.execute_async_v2(bindings, 0)
        return ok

    def execute_async(self, batch_size=1, bindings=(), stream_handle=0, input_consumed=None):
        eng = self._engine
        if not eng._plan["implicit_batch"]:
            self._log_err("3: [executionContext.cpp::enqueue] Error Code 3: API Usage Error (Parameter check failed, "
                          "condition: mEngine.hasImplicitBatchDimension(). enqueue(batchSize) is for implicit batch "
                          "engines: use enqueueV2)")
            return False
        if not 0 < int(batch_size) <= eng._plan["max_batch_size"]:
            self._log_err("3: [executionContext.cpp::enqueue] Error Code 3: API Usage Error (Parameter check failed, "
                          "condition: batchSize > 0 && batchSize <= mEngine.getMaxBatchSize(). Note: Batch size was: "
                          "%d, but engine max batch size was: %d)" % (batch_size, eng._plan["max_batch_size"]))
            return False
        ptrs = self._binding_pointers(bindings)
        return ptrs is not None and self._enqueue(stream_handle, ptrs, int(batch_size))

    def execute(self, batch_size=1, bindings=()):
        return self.execute_async(batch_size, bindings, 0)

    # -- named tensor API (8.5+, the only one from 10.0)
    def set_input_shape(self, name, shape):
        i = self._engine._by_name.get(name)
        if i is None:
            self._log_err("3: API Usage Error (no tensor named %s)" % name)
            return False
        return self._set_shape(self._engine._io[i], shape, "setInputShape")

    def get_tensor_shape(self, name):
        eng = self._engine
        t = eng._io[eng._by_name[name]]
        if self._profile < 0 and eng._dynamic():
            return eng._state.mod.Dims(())
        s = self._resolved(t)
        # "If the provided name does not map to an input or output tensor, or there are dynamic dimensions that
        # have not been set yet, return Dims{-1, {}}": unresolved dimensions stay -1 here
        return eng._state.mod.Dims(s if s is not None else t["shape"])

    def set_tensor_address(self, name, memory):
        if name not in self._engine._by_name:
            self._log_err("3: [executionContext.cpp::setTensorAddress] Error Code 3: API Usage Error (Given invalid "
                          "tensor name: %s)" % name)
            return False
        memory = int(memory)
        if memory % 256:
            self._log_err("3: [executionContext.cpp::setTensorAddress] Error Code 3: API Usage Error (Parameter check "
                          "failed, condition: (reinterpret_cast<uintptr_t>(data) & (alignment - 1)) == 0. Address of "
                          "%s is not aligned)" % name)
            return False
        self._addresses[name] = memory
        return True

    def get_tensor_address(self, name):
        return self._addresses.get(name, 0)

    def infer_shapes(self):
        return [t["name"] for t in self._engine._io if t["mode"] == "INPUT" and self._resolved(t) is None]

    def execute_async_v3(self, stream_handle):
        eng = self._engine
        for t in eng._io:
            if not self._addresses.get(t["name"]):
                self._log_err("3: [executionContext.cpp::enqueueV3::2666] Error Code 3: API Usage Error (Parameter "
                              "check failed, condition: mContext.profileObliviousBindings.at(profileObliviousIndex) || "
                              "getPtrOrNull(mOutputAllocators, profileObliviousIndex). Address is not set for %s "
                              "tensor %s. Call setTensorAddress or setOutputAllocator before enqueue/execute.)"
                              % ("input" if t["mode"] == "INPUT" else "output", t["name"]))
                return False
        return self._enqueue(stream_handle, dict(self._addresses))


# -- plugins -------------------------------------------------------------------------------------------------------
class IPluginCreator(_Obj):
    def __init__(self, name):
        self._name = name

    name = property(lambda s: s._name)
    plugin_version = property(lambda s: "1")
    plugin_namespace = property(lambda s: "")


class IPluginRegistry(_Obj):
    plugin_creator_list = property(lambda s: [s._state.mod.IPluginCreator(n) for n in sorted(s._state.plugins)])
    all_creators = property(lambda s: [s._state.mod.IPluginCreator(n) for n in sorted(s._state.plugins)])

    def get_plugin_creator(self, type, version, plugin_namespace=""):
        return self._state.mod.IPluginCreator(type) if type in self._state.plugins else None

    def load_library(self, plugin_path):  # 10.0+
        load_plugin_library(self._state, plugin_path)
        return object()


def register_creators(state, names, origin, logger=None):
    """IPluginRegistry::registerCreator for each name: a creator of the same name and version that is already
    registered is not replaced (plugin/InferPlugin.cpp: "each plugin is only registered once for a given namespace
    and type, and attempts of duplicate registration are ignored"; a refused one logs "Could not register plugin
    creator" at kERROR through the logger given to initLibNvInferPlugins)."""
    for n in names:
        if n in state.plugins:
            if state.plugins[n] != origin and logger is not None:
                _log(logger, "ERROR", "Could not register plugin creator -  ::%s version 1" % n)
            continue
        state.plugins[n] = origin


def _plugin_library(path):
    """(kind, creator names) of a fake plugin library file: kind "load" registers on load (REGISTER_TENSORRT_PLUGIN
    static registrars, e.g. a custom plugin), "init" only through its exported initLibNvInferPlugins (a build of
    libnvinfer_plugin, e.g. TensorRT OSS for TLT)."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(PLUGIN_LIB_MAGIC):
        raise OSError("%s: invalid ELF header" % path)
    lines = data[len(PLUGIN_LIB_MAGIC):].decode("ascii").splitlines()
    kind = "load"
    if lines and lines[0].startswith("kind:"):
        kind = lines.pop(0)[5:].strip()
    names = [n.strip() for line in lines for n in line.split() if n.strip()]
    return kind, names


def load_plugin_library(state, path):
    """What dlopen of a plugin library does: static initialisers of custom plugin libraries register their creators;
    a libnvinfer_plugin build registers nothing until its initLibNvInferPlugins is called (plugin/InferPlugin.cpp:
    registration happens only inside `extern "C" bool initLibNvInferPlugins(void* logger, const char*
    libNamespace)`). Returns the library's exported functions."""
    kind, names = _plugin_library(path)
    path = os.path.abspath(path)
    if kind == "load":
        register_creators(state, names, path)
    state.events.append(("load_library", path))
    symbols = {}
    if kind == "init":
        def init_lib(logger_ptr, namespace):
            # the logger arrives as a raw ILogger* (None from ctypes: no messages), as in the C signature
            register_creators(state, names, path)
            state.events.append(("init_library", path))
            return True
        symbols["initLibNvInferPlugins"] = init_lib
    return symbols


class FakeCFunction(object):
    """A ctypes foreign function of a fake library: argtypes/restype can be set; calling runs the double."""

    def __init__(self, name, fn):
        self.__name__ = name
        self._fn = fn
        self.argtypes = None
        self.restype = None

    def __call__(self, *args):
        return self._fn(*args)


class FakeCDLL(object):
    """What ctypes.CDLL returns for a fake plugin library: its exported C functions as attributes; a missing one
    raises AttributeError ("undefined symbol"), as ctypes does."""

    def __init__(self, path, symbols):
        self._name = path
        self._symbols = symbols

    def __getattr__(self, name):
        if name.startswith("_") or name not in self._symbols:
            raise AttributeError("%s: undefined symbol: %s" % (self._name, name))
        return FakeCFunction(name, self._symbols[name])


# -- module assembly -----------------------------------------------------------------------------------------------
class _State(object):
    def __init__(self, gen):
        self.gen = gen
        self.spec = GENERATIONS[gen]
        self.events = []
        self.plugins = {}  # creator name -> origin (library path, or STOCK_PLUGIN_LIBRARY)
        self.mod = None


def _specialize(cls, state, removed=(), bases=None):
    d = dict((k, v) for k, v in cls.__dict__.items() if k not in removed and k not in ("__dict__", "__weakref__"))
    d["_state"] = state
    return type(cls.__name__, bases or cls.__bases__, d)


def make_module(gen):
    """A fresh `tensorrt` module double of generation "8.2", "8.6", "10" or "11"."""
    if gen not in GENERATIONS:
        raise ValueError("unknown generation %r; choose from %s" % (gen, ", ".join(GENERATIONS)))
    spec = GENERATIONS[gen]
    state = _State(gen)
    m = types.ModuleType("tensorrt")
    m.__doc__ = "TensorRT %s conformance double (tests/doubles/fake_tensorrt)" % spec["version"]
    m.__version__ = spec["version"]
    m._fake = state
    state.mod = m

    # enums
    sev = _enum("tensorrt.ILogger.Severity", ["INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE"])
    m.DataType = _dtype_enum(gen)
    m.ErrorCode = _enum("tensorrt.ErrorCode", ["SUCCESS", "INTERNAL_ERROR", "MEM_ALLOC_FAILED",
                                               "MODEL_DESERIALIZE_FAILED", "INVALID_VALUE", "INVALID_GRAPH",
                                               "INVALID_NODE", "UNSUPPORTED_GRAPH", "UNSUPPORTED_NODE"])
    net_flags = []
    if spec["explicit_batch_flag"]:
        net_flags.append("EXPLICIT_BATCH")
    if gen in ("8.2", "8.6"):
        net_flags.append("EXPLICIT_PRECISION")
    if spec["strongly_typed_flag"]:
        net_flags.append("STRONGLY_TYPED")
    m.NetworkDefinitionCreationFlag = _enum("tensorrt.NetworkDefinitionCreationFlag", net_flags)
    bflags = ["DEBUG", "GPU_FALLBACK", "REFIT", "DISABLE_TIMING_CACHE", "TF32", "SPARSE_WEIGHTS", "SAFETY_SCOPE",
              "REJECT_EMPTY_ALGORITHMS"]
    if spec["precision_flags"]:
        bflags = ["FP16", "INT8"] + bflags + ["OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS",
                                              "DIRECT_IO"]
    if gen == "8.2":
        bflags.append("STRICT_TYPES")
    elif gen == "8.6":
        bflags += ["STRICT_TYPES", "VERSION_COMPATIBLE", "EXCLUDE_LEAN_RUNTIME", "FP8"]
    else:
        bflags += ["VERSION_COMPATIBLE", "EXCLUDE_LEAN_RUNTIME", "STRIP_PLAN", "REFIT_IDENTICAL", "WEIGHT_STREAMING"]
        if spec["precision_flags"]:
            bflags += ["FP8", "BF16", "INT4"]
    m.BuilderFlag = _enum("tensorrt.BuilderFlag", bflags)
    if spec["memory_pools"]:
        m.MemoryPoolType = _enum("tensorrt.MemoryPoolType", ["WORKSPACE", "DLA_MANAGED_SRAM", "DLA_LOCAL_DRAM",
                                                             "DLA_GLOBAL_DRAM", "TACTIC_DRAM",
                                                             "TACTIC_SHARED_MEMORY"])
    if spec["tensor_api"]:
        m.TensorIOMode = _enum("tensorrt.TensorIOMode", ["NONE", "INPUT", "OUTPUT"])
    if spec["preview"]:
        m.PreviewFeature = _enum("tensorrt.PreviewFeature", list(spec["preview"]))
    if spec["calibrators"]:
        m.CalibrationAlgoType = _enum("tensorrt.CalibrationAlgoType", [
            "LEGACY_CALIBRATION", "ENTROPY_CALIBRATION", "ENTROPY_CALIBRATION_2", "MINMAX_CALIBRATION"])
    m.Dims = type("Dims", (tuple,), {"__repr__": lambda s: "(%s)" % ", ".join(str(d) for d in s)})

    # logger
    m.ILogger = _specialize(ILogger, state, bases=(object,))
    m.ILogger.Severity = sev
    for k, v in sev.__members__.items():
        setattr(m.ILogger, k, v)
    m.Logger = _specialize(Logger, state, bases=(m.ILogger,))

    # builder
    m.ITensor = _specialize(ITensor, state)
    net_removed = () if spec["implicit_batch"] else ("has_implicit_batch_dimension",)
    m.INetworkDefinition = _specialize(INetworkDefinition, state, net_removed)
    m.ParserError = _specialize(ParserError, state, () if gen not in ("8.2", "8.6") else ("node_name", "node_operator"))
    m.OnnxParser = _specialize(OnnxParser, state)
    m.IOptimizationProfile = _specialize(IOptimizationProfile, state)
    cfg_removed = set()
    if not spec["workspace_attr"]:
        cfg_removed.update(["max_workspace_size", "_get_ws", "_set_ws"])
    if not spec["memory_pools"]:
        cfg_removed.update(["set_memory_pool_limit", "get_memory_pool_limit"])
    if not spec["calibrators"]:
        cfg_removed.update(["int8_calibrator", "set_calibration_profile", "get_calibration_profile"])
    if not spec["preview"]:
        cfg_removed.update(["set_preview_feature", "get_preview_feature"])
    m.IBuilderConfig = _specialize(IBuilderConfig, state, cfg_removed)
    if spec["calibrators"]:
        m.IInt8Calibrator = _specialize(IInt8Calibrator, state, bases=(object,))
        m.IInt8EntropyCalibrator2 = _specialize(IInt8EntropyCalibrator2, state, bases=(m.IInt8Calibrator,))
        m.IInt8MinMaxCalibrator = _specialize(IInt8MinMaxCalibrator, state, bases=(m.IInt8Calibrator,))
    b_removed = set()
    if not spec["build_engine"]:
        b_removed.update(["build_engine", "max_batch_size"])
    if not spec["platform_queries"]:
        b_removed.update(["platform_has_fast_fp16", "platform_has_fast_int8"])
    m.Builder = _specialize(Builder, state, b_removed)

    # runtime
    m.Runtime = _specialize(Runtime, state)
    bind_names = ["num_bindings", "max_batch_size", "has_implicit_batch_dimension", "__len__", "__iter__",
                  "__getitem__", "get_binding_name", "get_binding_index", "binding_is_input", "get_binding_shape",
                  "get_binding_dtype", "get_profile_shape"]
    tensor_names = ["num_io_tensors", "get_tensor_name", "get_tensor_mode", "get_tensor_shape", "get_tensor_dtype",
                    "get_tensor_profile_shape"]
    e_removed = set()
    if not spec["bindings_api"]:
        e_removed.update(bind_names)
    if not spec["tensor_api"]:
        e_removed.update(tensor_names)
    if gen == "11":
        e_removed.add("device_memory_size")
    m.ICudaEngine = _specialize(ICudaEngine, state, e_removed)
    c_removed = set()
    if not spec["bindings_api"]:
        c_removed.update(["set_binding_shape", "get_binding_shape", "all_binding_shapes_specified",
                          "all_shape_inputs_specified", "active_optimization_profile", "execute_async_v2",
                          "execute_async", "execute"])
    if not spec["tensor_api"]:
        c_removed.update(["set_input_shape", "get_tensor_shape", "set_tensor_address", "get_tensor_address",
                          "infer_shapes", "execute_async_v3"])
    m.IExecutionContext = _specialize(IExecutionContext, state, c_removed)

    # plugins and helpers
    m.IPluginCreator = _specialize(IPluginCreator, state)
    m.IPluginRegistry = _specialize(IPluginRegistry, state, () if spec["tensor_api"] and not spec["bindings_api"]
                                    else ("load_library", "all_creators"))
    registry = m.IPluginRegistry()

    def init_libnvinfer_plugins(logger, namespace):
        # TensorRT's own libnvinfer_plugin: creators already registered (e.g. by another build of the library whose
        # initLibNvInferPlugins ran first) stay, the duplicates are refused with an error message
        _check_logger(state, logger)
        register_creators(state, BUILTIN_PLUGINS, STOCK_PLUGIN_LIBRARY, logger)
        state.events.append(("init_libnvinfer_plugins", namespace))
        return True

    def get_plugin_registry():
        return registry

    def volume(iterable):
        v = 1
        for d in iterable:
            v *= d
        return v

    def nptype(trt_type):
        if gen == "8.2":
            # python/packaging/tensorrt/__init__.py of 8.2 builds its table on every call with `bool: np.bool`,
            # an alias numpy 1.20 deprecated and 1.24 removed (numpy 2.0 brought `np.bool` back): on numpy
            # 1.24-1.26 every call raises AttributeError, whatever the type asked for
            mapping = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32,
                       "BOOL": getattr(np, "bool")}
        else:
            mapping = _NP
        try:
            return mapping[trt_type.name]
        except KeyError:
            raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")

    m.init_libnvinfer_plugins = init_libnvinfer_plugins
    m.get_plugin_registry = get_plugin_registry
    m.volume = volume
    m.nptype = nptype
    return m
