"""The TensorRT engine: a deserialized ICudaEngine run on the GPU runtime's slot ring (pinned + device buffers, one
stream and one event per slot), one IExecutionContext per trafficpipe execution context (one per camera).

`model_path` is an ONNX file (a plan is built on first use and cached, see trt_build/plan_cache) or a serialized
engine (.engine/.plan/.trt, e.g. from tlt-converter or trtexec) loaded as it is. The I/O API is chosen by feature
detection (trt_api): named tensors + execute_async_v3 on 8.5+/10.x/11.x, bindings + execute_async_v2 on 8.0-8.4,
execute_async(batch_size) for implicit-batch engines. NVIDIA's samples/python/common_runtime.py (v3) and the 8.x
common.py (v2) show the same sequence: H2D copies, execute on the stream, D2H copies, synchronize.

On a dynamic-batch plan every execution context takes an optimization profile of its own before TensorRT 10 (see
trt_api: the first context gets profile 0, the others -1 until set_optimization_profile_async); 8.6 plans built
here share one (PROFILE_SHARING_0806), 10.x shares by default. Output buffers take the shapes the context resolves
once the input shapes are set.
"""
import os
import threading

import numpy as np

from ..errors import EngineError, ModelError
from ..log import logger
from .base import Engine, TensorSpec
from .gpu_runtime import CudaRuntime, GpuExecutionContext, HostDeviceBuffer, cuda_driver
from .plan_cache import read_sidecar
from .trt_api import (error_summary, has_tensor_api, import_tensorrt, load_plugins, np_dtype, profile_sharing,
                      shares_profiles, trt_logger, version)

ENGINE_EXTENSIONS = (".engine", ".plan", ".trt")
#: "The pointer must have at least 256-byte alignment." (NvInferRuntime.h, IExecutionContext::setTensorAddress)
ADDRESS_ALIGNMENT = 256


class TensorRTContext(GpuExecutionContext):
    """A slot ring with its own IExecutionContext. Slots have their own streams, so each enqueue first makes its
    stream wait for the previous slot's event: one IExecutionContext must never run on two streams at once."""

    def __init__(self, engine, n_slots, batch):
        self.trt_context = None
        self.profile = 0
        self._prev = None
        self._input_batch = None
        self._launch_lock = threading.Lock()
        self._out_shapes = {}
        self.engine = engine
        with engine.runtime.activate():
            self.trt_context = engine.cuda_engine.create_execution_context()
            if self.trt_context is None:
                raise EngineError("TensorRT could not create an execution context: %s"
                                  % error_summary(engine.lg, "out of GPU memory?"))
            self.profile = self._take_profile()
            self._out_shapes = self._resolve_output_shapes(batch)
        super(TensorRTContext, self).__init__(engine, n_slots, batch)
        eng = self.engine
        # a fixed batch-1 engine runs a batch as one call per item; items are addressed inside the slot buffers when
        # every per-item offset keeps TensorRT's alignment, else through per-slot scratch buffers
        self._per_item = eng.graph_batch == 1 and batch > 1
        self._offsets_ok = all(b.item_nbytes % ADDRESS_ALIGNMENT == 0
                               for s in self.slots for b in list(s.native.inputs.values()) +
                               list(s.native.outputs.values()))

    # -- optimization profile and shapes ---------------------------------------------------------------------------
    def _take_profile(self):
        """This context's optimization profile: the one TensorRT gave it, else one no other live context holds."""
        eng = self.engine
        ctx = self.trt_context
        if not eng.dynamic_batch or eng.io_api == "implicit" or eng.shares_profiles:
            return 0
        current = getattr(ctx, "active_optimization_profile", -1)
        if current is not None and int(current) >= 0:
            return int(current)  # the first context (TensorRT selects profile 0 for it)
        held = eng.profiles_in_use(self)
        free = [k for k in range(eng.n_profiles) if k not in held]
        rebuild = ("this TensorRT plan has %d optimization profile(s) and TensorRT %s needs one per execution "
                   "context: rebuild it for more contexts (--contexts N here, or trafficpipe build-engine MODEL "
                   "--batch %d --contexts N)" % (eng.n_profiles, version(eng.trt), eng.max_batch))
        if not free and profile_sharing(eng.trt) == "preview":
            free = [0]  # 8.6: a plan built with PROFILE_SHARING_0806 lets every context select profile 0
        if not free:
            raise EngineError(rebuild)
        k = free[0]
        stream = cuda_driver().Stream()
        try:
            ok = ctx.set_optimization_profile_async(k, stream.handle)  # raises RuntimeError on failure
        except RuntimeError as e:
            ok = False
            eng.lg.errors.append(str(e))
        stream.synchronize()  # the profile's copies are done before any slot stream uses the context
        if ok is False:
            raise EngineError("TensorRT refused optimization profile %d for a new execution context (%s); %s"
                              % (k, error_summary(eng.lg, "set_optimization_profile_async failed"), rebuild))
        return k

    def _resolve_output_shapes(self, batch):
        """{output name: buffer shape} for `batch` items: the shapes the context resolves once the input shapes are
        set (axis 0 of a buffer is the item; an output of n items x m rows is held as [n, m, ...])."""
        eng = self.engine
        call = batch if eng.dynamic_batch else max(1, eng.graph_batch)
        if eng.io_api == "implicit":
            got = dict((o.name, (call,) + tuple(o.shape[1:])) for o in eng.outputs)
        else:
            self._set_input_shapes(call)
            got = {}
            for o in eng.outputs:
                if eng.io_api == "tensor":
                    dims = self.trt_context.get_tensor_shape(o.name)
                else:
                    dims = self.trt_context.get_binding_shape(eng.binding(o.name, self.profile))
                got[o.name] = tuple(int(d) for d in dims)
        out = {}
        for o in eng.outputs:
            shape = got[o.name]
            if not shape or any(d < 0 for d in shape):
                raise EngineError("TensorRT gives no shape for output %s at batch %d (%s): a data-dependent output "
                                  "shape is not supported" % (o.name, call, list(shape)))
            if shape[0] == call:
                item = shape[1:]
            elif shape[0] % call == 0:
                item = (shape[0] // call,) + shape[1:]
            else:
                raise EngineError("output %s has shape %s at batch %d: its first axis is not batch-major, which "
                                  "trafficpipe needs" % (o.name, list(shape), call))
            out[o.name] = (batch,) + tuple(item)
        return out

    def _output_shape(self, spec):
        return self._out_shapes[spec.name]

    def _set_input_shapes(self, batch):
        eng = self.engine
        ctx = self.trt_context
        if not eng.dynamic_batch or batch == self._input_batch:
            return
        for s in eng.inputs:
            shape = (batch,) + tuple(s.shape[1:])
            if eng.io_api == "tensor":
                ok = ctx.set_input_shape(s.name, shape)
            else:
                ok = ctx.set_binding_shape(eng.binding(s.name, self.profile), shape)
            if not ok:
                raise EngineError("TensorRT refused input shape %s for %s: %s" % (
                    list(shape), s.name, error_summary(eng.lg, "outside the engine's optimization profile")))
        self._input_batch = batch

    # -- launching ---------------------------------------------------------------------------------------------
    def _launch(self, slot):
        with self._launch_lock:
            super(TensorRTContext, self)._launch(slot)
            self._prev = slot

    def _enqueue(self, slot):
        st = slot.native
        n = slot.size
        if n <= 0:
            return
        prev = self._prev
        if prev is not None and prev is not slot and prev.native is not None:
            st.stream.wait_for_event(prev.native.event)
        eng = self.engine
        if self._per_item:
            if self._offsets_ok:
                for i in range(n):
                    self._execute(st, 1, dict((k, b.device_ptr + i * b.item_nbytes) for k, b in st.inputs.items()),
                                  dict((k, b.device_ptr + i * b.item_nbytes) for k, b in st.outputs.items()))
            else:
                self._execute_via_scratch(st, n)
        else:
            batch = n if eng.graph_batch == 0 else eng.graph_batch
            self._execute(st, batch, dict((k, b.device_ptr) for k, b in st.inputs.items()),
                          dict((k, b.device_ptr) for k, b in st.outputs.items()))

    def _execute_via_scratch(self, st, n):
        cuda = cuda_driver()
        scratch = st.extra.get("trt_scratch")
        if scratch is None:
            scratch = st.extra["trt_scratch"] = dict(
                (k, HostDeviceBuffer((1,) + b.shape[1:], b.dtype))
                for k, b in list(st.inputs.items()) + list(st.outputs.items()))
        for i in range(n):
            for k, b in st.inputs.items():
                cuda.memcpy_dtod_async(scratch[k].device_ptr, b.device_ptr + i * b.item_nbytes, b.item_nbytes,
                                       st.stream)
            self._execute(st, 1, dict((k, scratch[k].device_ptr) for k in st.inputs),
                          dict((k, scratch[k].device_ptr) for k in st.outputs))
            for k, b in st.outputs.items():
                cuda.memcpy_dtod_async(b.device_ptr + i * b.item_nbytes, scratch[k].device_ptr, b.item_nbytes,
                                       st.stream)

    def _free_slot_extra(self, slot):
        for buf in slot.native.extra.get("trt_scratch", {}).values():
            buf.free()

    def _execute(self, st, batch, in_ptrs, out_ptrs):
        eng = self.engine
        ctx = self.trt_context
        handle = st.stream.handle
        if eng.io_api != "implicit":
            self._set_input_shapes(batch)
        if eng.io_api == "tensor":
            for name, ptr in list(in_ptrs.items()) + list(out_ptrs.items()):
                if not ctx.set_tensor_address(name, ptr):
                    raise EngineError("TensorRT refused the address of %s: %s"
                                      % (name, error_summary(eng.lg, "set_tensor_address failed")))
            ok = ctx.execute_async_v3(handle)
        else:
            bindings = [0] * eng.n_bindings  # every profile's bindings; this context's profile reads its own
            for name, ptr in list(in_ptrs.items()) + list(out_ptrs.items()):
                bindings[eng.binding(name, self.profile)] = int(ptr)
            if eng.io_api == "implicit":
                ok = ctx.execute_async(batch_size=batch, bindings=bindings, stream_handle=handle)
            else:
                ok = ctx.execute_async_v2(bindings=bindings, stream_handle=handle)
        if not ok:
            raise EngineError("TensorRT could not enqueue inference: %s"
                              % error_summary(eng.lg, "execute returned False"))

    def _free_slots(self):
        super(TensorRTContext, self)._free_slots()
        with self.runtime.activate():
            self.trt_context = None  # destroyed while the CUDA context is current (its profile is free again)
        self._prev = None


class TensorRTEngine(Engine):
    """A TensorRT engine from an ONNX file (built and cached on first use) or a serialized plan.

    precision: fp32|fp16|int8 (ONNX only); batch: largest batch per call for models with a dynamic batch axis;
    workspace_mb: builder workspace limit; plugin_libs: extra plugin .so files; calib: INT8 calibration images
    (folder or dataset); cache_dir: plan cache folder (default $TRAFFICPIPE_CACHE/tensorrt); contexts: execution
    contexts that run at once on a dynamic-batch plan (TensorRT 8.0-8.5 build an optimization profile for each).
    """

    name = "tensorrt"

    def __init__(self, model_path, precision="fp32", batch=1, workspace_mb=None, plugin_libs=(), calib=None,
                 cache_dir=None, device=0, arch=None, force_build=False, device_io=False, contexts=1):
        super(TensorRTEngine, self).__init__()
        self.trt = trt = import_tensorrt()
        cuda_driver()
        self.lg = trt_logger(trt)
        self.device = int(device)
        self.runtime = CudaRuntime.get(self.device)
        self.model_path = model_path
        self.precision = precision
        self.plan_path = None
        self.cuda_engine = None
        self._trt_runtime = None
        self.io_api = None
        self.device_io = bool(device_io)
        self._build = dict(precision=precision, batch=batch, workspace_mb=workspace_mb, calib=calib, arch=arch,
                           cache_dir=cache_dir, plugin_libs=plugin_libs, force=force_build, contexts=contexts)
        ext = os.path.splitext(model_path)[1].lower()
        with self.runtime.activate():
            load_plugins(trt, self.lg, plugin_libs)  # before parsing or deserializing anything
        if ext == ".onnx":
            if self.device_io:
                if precision == "int8":
                    raise EngineError("--device-io with --precision int8 is not supported (the calibrator feeds the "
                                      "model's own input); use --no-device-io")
                # the plan is built from the wrapped graph once the Detector gives the adapter (attach_adapter)
                from .onnx_device_io import onnx_specs
                from .onnx_graph import cleaned_model_path
                self.inputs, self.outputs = onnx_specs(cleaned_model_path(model_path))
                return
            self._build_from(model_path)
            return
        elif ext in ENGINE_EXTENSIONS:
            if not os.path.isfile(model_path):
                raise ModelError("engine file %s does not exist" % model_path)
            self.device_io = False  # a built plan has its own I/O
            side = self._check_foreign_plan(model_path)
            with open(model_path, "rb") as f:
                data = f.read()
            self.plan_path = model_path
            if precision not in ("fp32", None):
                logger.info("{} is a built engine: its precision was fixed when it was built (--precision ignored)",
                            os.path.basename(model_path))
        else:
            raise ModelError("the TensorRT engine loads .onnx, .engine, .plan or .trt files, not %s" % model_path)
        self._deserialize(data, side, ext)

    def _build_from(self, onnx_path):
        """Build (or take from the cache) the plan of an ONNX file and load it."""
        from .trt_build import obtain_plan
        b = self._build
        data, self.plan_path, side = obtain_plan(onnx_path, b["precision"], b["batch"], b["workspace_mb"], b["calib"],
                                                 arch=b["arch"], cache_dir=b["cache_dir"], runtime=self.runtime,
                                                 plugin_libs=b["plugin_libs"], force=b["force"],
                                                 contexts=b["contexts"])
        self._deserialize(data, side, ".onnx")

    def _deserialize(self, data, side, ext):
        trt = self.trt
        with self.runtime.activate():
            self._trt_runtime = trt.Runtime(self.lg)
            self.cuda_engine = self._trt_runtime.deserialize_cuda_engine(data)
        if self.cuda_engine is None:
            why = error_summary(self.lg, "deserialize_cuda_engine returned None")
            hint = ""
            if ext in ENGINE_EXTENSIONS:
                hint = (" (a plan only loads on the TensorRT version and GPU it was built with, and needs its plugins: "
                        "rebuild it on this device, e.g. with tlt-converter/trtexec, or pass --plugin-lib)")
            raise EngineError("TensorRT cannot load %s: %s%s" % (os.path.basename(self.plan_path), why, hint))
        self._read_io((side or {}).get("outputs"))
        logger.debug("tensorrt {} ({} API): inputs {} outputs {}", version(trt), self.io_api, self.inputs,
                     self.outputs)

    def attach_adapter(self, adapter):
        """With `device_io` (ONNX models): build the plan from the graph wrapped with the adapter's normalisation and
        candidate ranking (engines/onnx_device_io.py), so the GPU does them; float32 image input (0..255), which every
        TensorRT version takes. Otherwise (or for a family without device I/O) the plain plan."""
        if self.cuda_engine is not None:
            return adapter
        from ..models.device_io import DeviceIOAdapter, supports_device_io
        if not supports_device_io(adapter):
            logger.info("{}: no device I/O for the {} family; building the plain plan", self.model_path,
                        adapter.family)
            self.device_io = False
            self._build_from(self.model_path)
            return adapter
        from .onnx_device_io import attach, device_io_model_path
        from .onnx_graph import cleaned_model_path
        k, pairs = attach(adapter, top_k_limit=3840)  # TensorRT's TopK takes K <= 3840
        self._build_from(device_io_model_path(cleaned_model_path(self.model_path), adapter, k, np.float32))
        return DeviceIOAdapter(adapter, k, pairs, np.float32)

    def _check_foreign_plan(self, path):
        """A plan written by `trafficpipe build-engine --out` carries a sidecar: refuse it on another TensorRT/GPU."""
        side = read_sidecar(path)
        if not side or not isinstance(side.get("key"), dict):
            return side
        key = side["key"]
        here = {"tensorrt": version(self.trt), "gpu": self.runtime.device_name,
                "compute_capability": "%d.%d" % self.runtime.compute_capability}
        diff = [k for k in here if key.get(k) != here[k]]
        if diff:
            raise EngineError("%s was built for TensorRT %s on %s (sm %s); this is TensorRT %s on %s (sm %s): rebuild it "
                              "here with trafficpipe build-engine %s" % (
                                  os.path.basename(path), key.get("tensorrt"), key.get("gpu"),
                                  key.get("compute_capability"), here["tensorrt"], here["gpu"],
                                  here["compute_capability"], side.get("model", "MODEL.onnx")))
        return side

    # -- I/O ---------------------------------------------------------------------------------------------------
    def _read_io(self, output_order=None):
        trt, eng = self.trt, self.cuda_engine
        ins, outs, max_batch = [], [], []
        self.binding_index = {}
        self.n_profiles = max(1, int(getattr(eng, "num_optimization_profiles", 1)))
        self.shares_profiles = shares_profiles(eng)
        # implicit-batch plans (old tlt-converter) only run through enqueue(batchSize), even where 8.5+ also offers
        # named tensors; 10.x has neither implicit batch nor bindings
        implicit = bool(getattr(eng, "has_implicit_batch_dimension", False))
        if has_tensor_api(eng) and not implicit:
            self.io_api = "tensor"
            self.n_bindings = int(eng.num_io_tensors)
            for i in range(eng.num_io_tensors):
                name = eng.get_tensor_name(i)
                spec = TensorSpec(name, tuple(int(d) for d in eng.get_tensor_shape(name)),
                                  np_dtype(trt, eng.get_tensor_dtype(name)))
                if eng.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                    ins.append(spec)
                    if spec.shape and spec.shape[0] < 0:
                        max_batch.append(int(eng.get_tensor_profile_shape(name, 0)[2][0]))
                else:
                    outs.append(spec)
        else:
            self.io_api = "implicit" if implicit else "bindings"
            # with K profiles the first num_bindings / K bindings are profile 0's; the others are the same tensors
            # for profiles 1..K-1 ("name [profile k]"), at index k * n_io + i
            self.n_bindings = int(eng.num_bindings)
            for i in range(self.n_bindings // self.n_profiles):
                name = eng.get_binding_name(i)
                shape = tuple(int(d) for d in eng.get_binding_shape(i))
                if implicit:
                    shape = (-1,) + shape
                spec = TensorSpec(name, shape, np_dtype(trt, eng.get_binding_dtype(i)))
                self.binding_index[name] = i
                if eng.binding_is_input(i):
                    ins.append(spec)
                    if implicit:
                        max_batch.append(int(eng.max_batch_size))
                    elif spec.shape and spec.shape[0] < 0:
                        max_batch.append(int(eng.get_profile_shape(0, i)[2][0]))
                else:
                    outs.append(spec)
        if output_order and sorted(output_order) == sorted(o.name for o in outs):
            by_name = dict((o.name, o) for o in outs)
            outs = [by_name[n] for n in output_order]  # the ONNX order the adapters expect
        self.inputs, self.outputs = ins, outs
        self.graph_batch = ins[0].fixed_batch if ins else 1
        self.dynamic_batch = self.graph_batch == 0
        self.max_batch = min(max_batch) if max_batch else self.graph_batch

    def binding(self, name, profile=0):
        # type: (str, int) -> int
        """Binding index of I/O tensor `name` for optimization profile `profile` (bindings API)."""
        return profile * len(self.binding_index) + self.binding_index[name]

    def profiles_in_use(self, but=None):
        # type: (object) -> set
        """Optimization profiles held by this engine's live execution contexts (other than `but`)."""
        return set(c.profile for c in self.contexts
                   if c is not but and isinstance(c, TensorRTContext) and c.trt_context is not None)

    def _context_class(self):
        return TensorRTContext

    def create_context(self, n_slots=2, batch=1):
        if self.cuda_engine is None:
            raise EngineError("this TensorRT engine waits for its adapter (device I/O): use it through a Detector")
        if self.graph_batch == 1 or (self.dynamic_batch and batch <= self.max_batch):
            ctx = TensorRTContext(self, n_slots, batch)
            self.contexts.append(ctx)
            return ctx
        if self.dynamic_batch:
            how = ("tlt-converter -m %d" % batch) if self.io_api == "implicit" else (
                "trafficpipe build-engine MODEL --batch %d" % batch)
            raise EngineError("this TensorRT engine takes at most %d frame(s) per call; rebuild it for --batch %d "
                              "(%s)" % (self.max_batch, batch, how))
        return super(TensorRTEngine, self).create_context(n_slots, batch)

    def describe(self):
        # type: () -> dict
        d = {"engine": self.name, "precision": self.precision, "tensorrt": version(self.trt), "io_api": self.io_api,
             "plan": self.plan_path, "device_io": self.device_io}
        d.update(self.runtime.describe())
        return d

    def close(self):
        super(TensorRTEngine, self).close()
        with self.runtime.activate():
            self.cuda_engine = None
            self._trt_runtime = None
