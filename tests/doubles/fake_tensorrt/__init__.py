"""A conformance double of the `tensorrt` Python module, in four generations, for a machine without TensorRT.

Generations (pick one per test with `install(monkeypatch, gen)`):
- "8.2"  (JetPack 4.6 on a Jetson Nano): bindings API only (`num_bindings`, `get_binding_shape`, `binding_is_input`,
  `set_binding_shape`, `execute_async_v2`, and `execute_async(batch_size, ...)` for implicit-batch engines such as old
  tlt-converter plans); `create_network` needs the EXPLICIT_BATCH flag for the ONNX parser; workspace through
  `IBuilderConfig.max_workspace_size` (no `set_memory_pool_limit`, no `MemoryPoolType`); `Builder.build_engine`; no
  UINT8 data type, no PreviewFeature; `nptype` uses `np.bool` (fails on numpy 1.24-1.26).
- "8.6"  (8.5/8.6, e.g. JetPack 5): both API families side by side (bindings and named tensors), memory pools and
  `max_workspace_size`, implicit batch still there, UINT8 and FP8 data types, `PreviewFeature` with
  PROFILE_SHARING_0806.
- "10"   (10.x, e.g. JetPack 6 / desktop): named-tensor API only (`num_io_tensors`, `get_tensor_name/mode/shape/dtype`,
  `set_input_shape`, `set_tensor_address`, `execute_async_v3`); no bindings API, no `max_workspace_size`, no
  `build_engine`, no implicit batch; EXPLICIT_BATCH is accepted but deprecated (warning); FP16/INT8 flags and
  `IInt8EntropyCalibrator2` still exist; execution contexts share optimization profiles by default.
- "11"   (11.x): as 10 but strongly typed only: no `BuilderFlag.FP16/INT8`, no `int8_calibrator`, no calibrator classes,
  no `platform_has_fast_fp16/int8`, no EXPLICIT_BATCH member.

Optimization profiles and execution contexts, as NvInferRuntime.h (8.2.1; 8.6.1) says (see IExecutionContext in
_core.py for the quoted lines): on a dynamic-shape engine the first context created gets profile 0 and every later
one profile -1 (8.2; on 8.6: 0 when no other live context holds 0), and a context with profile -1 cannot set input
shapes or enqueue; `set_optimization_profile_async(k, stream)` takes a profile no other live context holds and
raises RuntimeError otherwise. A plan built with PROFILE_SHARING_0806 (8.6) and every 10.x/11.x plan let all
contexts use profile 0. With K profiles the bindings API has K * n_io bindings, "name [profile k]" for k > 0.

Plugins, as plugin/InferPlugin.cpp and the 8.x registry do: `init_libnvinfer_plugins` registers TensorRT's own
creators; loading a build of libnvinfer_plugin with ctypes.CDLL registers nothing (only its exported
initLibNvInferPlugins does); a custom plugin library registers its creators on load (static registrars); a creator
already registered under the same name and version is never replaced.

Faithful where it matters: a removed method or enum member is absent (AttributeError), setting an attribute the real
class lacks raises, calls that the real library answers with `False`/`None` plus a logged error do the same
(version/device mismatch on deserialize, missing plugin creators, missing tensor addresses or input shapes, shapes
outside the optimization profile, parser errors one per unsupported node). Undefined behaviour of the real library
(one execution context enqueued on two streams at once, a calibrator returning fewer pointers than inputs)
raises FakeTensorRTMisuse.

What it cannot be: the "plan" is JSON naming the ONNX file and the build settings; executing an engine runs that ONNX
file with ONNX Runtime on the CPU, reading inputs from and writing outputs to the fake pycuda device memory when the
stream reaches the work (install fake_pycuda with it); with the real pycuda on a real GPU it instead waits for the
queued work (Context.synchronize) and computes at once, reading and writing real device memory
(tests/gpu/test_tensorrt_plumbing_gpu.py). Reduced precision is recorded, not simulated (outputs are fp32
computations). I/O tensors are ordered inputs first, then outputs in reverse ONNX order (TensorRT promises no order).
Output shapes come from the context once the input shapes are set (the graph's own shapes for those inputs).
"""
import ctypes
import os
import sys

from . import _core
from ._core import (BUILTIN_PLUGINS, GENERATIONS, PLAN_MAGIC, PLUGIN_LIB_MAGIC, STOCK_PLUGIN_LIBRARY,  # noqa: F401
                    FakePlanError, FakeTensorRTMisuse, make_module, pack_plan, unpack_plan)


def install(monkeypatch, gen, gpu_name="Fake GPU", compute_capability=(8, 6)):
    """Install a fresh TensorRT double of generation `gen` and a fresh fake pycuda for one test.

    Also routes `ctypes.CDLL` of fake plugin libraries (see `write_plugin_library`) to the double's registry.
    Returns the fake `tensorrt` module.
    """
    from .. import fake_pycuda
    fake_pycuda.install(monkeypatch, name=gpu_name, compute_capability=compute_capability)
    trt = make_module(gen)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    real_cdll = ctypes.CDLL

    def cdll(name, *args, **kwargs):
        if isinstance(name, str) and os.path.isfile(name):
            with open(name, "rb") as f:
                head = f.read(len(PLUGIN_LIB_MAGIC))
            if head == PLUGIN_LIB_MAGIC:
                return _core.FakeCDLL(name, _core.load_plugin_library(trt._fake, name))
        return real_cdll(name, *args, **kwargs)

    monkeypatch.setattr(ctypes, "CDLL", cdll)
    return trt


def events(trt):
    """The calls the double has seen, in order: ("init_libnvinfer_plugins", ns), ("load_library", path),
    ("init_library", path),
    ("parse", path), ("build",), ("calibrated", n), ("deserialize",), ("create_execution_context",), ("enqueue", h)."""
    return list(trt._fake.events)


def event_names(trt):
    return [e[0] for e in trt._fake.events]


def write_plugin_library(path, creators, registers_on_load=True):
    """A file that the double treats as a plugin .so holding `creators`: a custom plugin library that registers them
    when loaded with ctypes.CDLL (`registers_on_load`), or else a build of libnvinfer_plugin (e.g. TensorRT OSS, as
    TLT/TAO SSD needs) that registers them only when its exported initLibNvInferPlugins is called."""
    with open(path, "wb") as f:
        f.write(PLUGIN_LIB_MAGIC + ("kind: %s\n" % ("load" if registers_on_load else "init")).encode("ascii") +
                " ".join(creators).encode("ascii") + b"\n")
    return path


def plugin_origin(trt, name):
    """Which library registered plugin creator `name` (a path, or STOCK_PLUGIN_LIBRARY), None where none did."""
    return trt._fake.plugins.get(name)


def write_plan(trt, path, onnx_path, implicit_batch=False, max_batch_size=1, plugins=(), flags=(), profiles=0,
               max_batch=4):
    """Write a plan as an external tool (tlt-converter, trtexec) would on the current fake device with this `trt`.

    `implicit_batch` makes an 8.x implicit-batch engine (binding shapes without the batch axis, `max_batch_size`),
    as tlt-converter produced for TLT SSD models; `plugins` are plugin creators the engine needs at deserialization;
    `profiles` optimization profiles (batch 1..`max_batch` on the dynamic axes), as `trtexec --profile` makes.
    """
    import hashlib
    import onnx
    m = onnx.load(onnx_path)
    inits = set(x.name for x in m.graph.initializer)
    names = {1: "FLOAT", 6: "INT32", 7: "INT64" if trt._fake.spec["int64"] else "INT32", 10: "HALF"}

    def io(vi):
        t = vi.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
        if implicit_batch:
            shape = shape[1:]
        return {"name": vi.name, "shape": shape, "dtype": names.get(t.elem_type, "FLOAT")}

    with open(onnx_path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    name, cc = _core._current_device()
    plan = {"version": trt.__version__, "device": {"name": name, "cc": list(cc)},
            "onnx_path": os.path.abspath(onnx_path), "onnx_sha256": sha, "implicit_batch": bool(implicit_batch),
            "max_batch_size": int(max_batch_size), "strongly_typed": False,
            "inputs": [io(v) for v in m.graph.input if v.name not in inits],
            "outputs": [io(v) for v in m.graph.output], "profiles": [], "flags": list(flags), "workspace": None,
            "calibration": None, "plugins": list(plugins), "preview": [], "producer": "external"}
    for _ in range(profiles):
        prof = {}
        for t in plan["inputs"]:
            if any(d < 0 for d in t["shape"]):
                prof[t["name"]] = [[1 if d < 0 else d for d in t["shape"]]] + [
                    [max_batch if d < 0 else d for d in t["shape"]]] * 2
        plan["profiles"].append(prof)
    with open(path, "wb") as f:
        f.write(pack_plan(plan))
    return path


def plan_info(path_or_bytes):
    """The JSON content of a fake plan (file path or bytes)."""
    if isinstance(path_or_bytes, str):
        with open(path_or_bytes, "rb") as f:
            path_or_bytes = f.read()
    return unpack_plan(path_or_bytes)


__all__ = ["install", "make_module", "events", "event_names", "write_plan", "write_plugin_library", "plan_info",
           "plugin_origin", "STOCK_PLUGIN_LIBRARY",
           "GENERATIONS", "BUILTIN_PLUGINS", "PLAN_MAGIC", "FakeTensorRTMisuse", "FakePlanError"]
