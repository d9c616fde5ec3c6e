"""ONNX Runtime on the CPU: the default engine, runs anywhere."""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..cpu import cores_available
from ..errors import EngineError, ModelError, first_line
from ..log import logger
from .base import Engine, ExecutionContext, TensorSpec
from .onnx_graph import cleaned_model_path, read_model

_ORT_TYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(uint8)": np.uint8, "tensor(int8)": np.int8, "tensor(int32)": np.int32, "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}


def _spec(arg):
    shape = tuple(d if isinstance(d, int) else -1 for d in arg.shape)
    return TensorSpec(arg.name, shape, _ORT_TYPES.get(arg.type, np.float32))


class OnnxRuntimeContext(ExecutionContext):
    """Hands each submitted slot to one of the engine's run threads, so up to `engine.concurrency` slots compute at
    once (ONNX Runtime releases the GIL while it computes; a session may run from several threads); `_wait` joins it.
    With a concurrency of 1 the slot runs at once on the calling thread."""

    def _launch(self, slot):
        pool = self.engine.run_pool()
        if pool is None:
            self._run(slot)
        else:
            slot.native = pool.submit(self._run, slot)

    def _wait(self, slot):
        done, slot.native = slot.native, None
        if done is not None:
            done.result()  # re-raises the run's error in the collecting thread

    def _run(self, slot):
        eng = self.engine
        n = slot.size
        names = eng.output_names
        if eng.graph_batch == 1:  # fixed batch-1 graph: one call per frame
            for i in range(n):
                outs = eng.session.run(names, {k: v[i:i + 1] for k, v in slot.host_inputs.items()})
                for name, o in zip(names, outs):
                    slot.host_outputs[name][i] = o[0]
        else:
            outs = eng.session.run(names, {k: v[:n] for k, v in slot.host_inputs.items()})
            for name, o in zip(names, outs):
                slot.host_outputs[name][:n] = o


def _interrupt_behind(e):
    # type: (BaseException) -> object
    """The KeyboardInterrupt (or Terminated) an error was raised from, if any (pybind11 turns one that interrupts a
    module's loading into ImportError("initialization failed"))."""
    seen = 0
    while e is not None and seen < 16:
        if isinstance(e, KeyboardInterrupt):
            return e
        e = e.__cause__ or e.__context__
        seen += 1
    return None


class OnnxRuntimeEngine(Engine):
    """An onnxruntime.InferenceSession on the CPU.

    `concurrency`: runs in flight at once (0 = 2 where 2 cores or more are available): two frames computing side by
    side, one thread each, use the cores better than one frame split over threads. `threads`: intra-op threads per
    run (0 = the cores this process may use, divided among the runs in flight; ONNX Runtime's own default ignores the
    affinity mask and cgroup quota and pins one thread per physical core of the host). `spinning`: let idle intra-op
    threads busy-wait (ONNX Runtime's default); off by default, because spinning threads take the cores that
    decoding, preprocessing and encoding need. Measured on 2 cores (YOLOX-nano, 720p video, `trafficpipe bench`): the
    pipeline ran 1.3-1.6x faster with 1 thread x 2 runs than with ONNX Runtime's defaults (2 spinning threads, 1 run).
    """

    name = "onnxruntime"

    def __init__(self, model_path, threads=0, clean=True, concurrency=0, spinning=False, device_io=False):
        super(OnnxRuntimeEngine, self).__init__()
        try:
            import onnxruntime as ort
        except ImportError as e:
            if getattr(e, "name", None) == "onnxruntime":  # (not a part of it failing to load)
                raise EngineError("onnxruntime is not installed: pip install onnxruntime")
            stop = _interrupt_behind(e)
            if stop is not None:  # Ctrl-C or SIGTERM while its native part loaded ("initialization failed")
                raise stop
            raise EngineError("onnxruntime could not be loaded: %s" % first_line(e))
        self.ort = ort
        path = cleaned_model_path(model_path) if clean else model_path
        self._path = path
        cores = int(cores_available())
        self.concurrency = int(concurrency) if concurrency and int(concurrency) > 0 else max(1, min(2, cores))
        self.threads = int(threads) if threads and int(threads) > 0 else max(1, cores // self.concurrency)
        self.spinning = bool(spinning)
        self.device_io = bool(device_io)
        self._pool = None
        self._pool_lock = threading.Lock()
        self.model_path = model_path
        self._load(path)

    def _load(self, path):
        ort = self.ort
        data = read_model(path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.spinning else "0")
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
        except Exception as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelError("cannot load %s with ONNX Runtime: %s" % (os.path.basename(self.model_path), msg))
        self.inputs = [_spec(a) for a in self.session.get_inputs()]
        self.outputs = [_spec(a) for a in self.session.get_outputs()]
        self.graph_batch = self.inputs[0].fixed_batch if self.inputs else 0
        logger.debug("onnxruntime {}: inputs {} outputs {}", ort.__version__, self.inputs, self.outputs)

    def attach_adapter(self, adapter):
        """With `device_io`: run the graph wrapped with the adapter's normalisation and candidate ranking
        (engines/onnx_device_io.py); the CPU then only resizes, thresholds and runs NMS."""
        from ..models.device_io import DeviceIOAdapter, supports_device_io
        if not self.device_io or not supports_device_io(adapter):
            self.device_io = False
            return adapter
        if self.contexts:
            raise EngineError("device I/O must be set before any execution context exists")
        from .onnx_device_io import attach, device_io_model_path
        k, pairs = attach(adapter)
        self._load(device_io_model_path(self._path, adapter, k, np.uint8))
        return DeviceIOAdapter(adapter, k, pairs, np.uint8)

    def _context_class(self):
        return OnnxRuntimeContext

    def create_context(self, n_slots=2, batch=1):
        # graphs with a fixed batch of 1 run B calls per slot, so any batch is accepted
        if self.graph_batch == 1:
            ctx = OnnxRuntimeContext(self, n_slots, batch)
            self.contexts.append(ctx)
            return ctx
        return super(OnnxRuntimeEngine, self).create_context(n_slots, batch)

    def run_pool(self):
        """The threads that run slots (None when one run at a time: slots then run on the submitting thread)."""
        if self.concurrency <= 1:
            return None
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="onnxruntime-run")
            return self._pool

    def describe(self):
        import onnxruntime as ort
        return {"engine": self.name, "precision": "fp32", "device": "cpu", "threads": self.threads,
                "concurrency": self.concurrency, "spinning": self.spinning, "device_io": self.device_io,
                "onnxruntime": ort.__version__}

    def close(self):
        super(OnnxRuntimeEngine, self).close()
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
