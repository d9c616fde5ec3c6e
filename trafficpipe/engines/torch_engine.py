"""The torch engine: the shared ONNX models converted with onnx2torch, run in fp32 or fp16 on a CUDA GPU.

It computes on the GPU runtime's own buffers and streams (the ones a TensorRT engine uses): each slot's device input
and output buffers are wrapped as torch tensors (`__cuda_array_interface__`), and the compute is enqueued on the slot's
pycuda stream (`torch.cuda.ExternalStream`), between the slot's H2D and D2H copies.

Eager torch is launch-bound at small batches, so by default each slot captures CUDA graphs (one per batch size 1, 2,
4, ... up to the context's batch, sharing one memory pool per slot) over its own buffers; a submit then costs one
graph launch. Graphs with a fixed batch of 1 are made batch-dynamic (engines/onnx_batch.py) and checked against
single-frame runs on load; where that fails, each batch runs as B single-frame calls (inside the graph).
"""
import threading

from ..errors import EngineError
from ..log import logger
from .base import Engine
from .gpu_runtime import CudaRuntime, GpuExecutionContext

PRECISIONS = ("fp32", "fp16")


def import_torch_cuda(device=0):
    """The torch module where it sees a CUDA GPU; EngineError (one line) otherwise."""
    try:
        import torch
    except ImportError:
        raise EngineError("the torch engine needs PyTorch with CUDA, which is not installed "
                          "(pip install torch onnx2torch pycuda on a machine with an NVIDIA GPU)")
    try:
        ok = torch.cuda.is_available()
        n = torch.cuda.device_count() if ok else 0
    except Exception:
        ok, n = False, 0
    if not ok or n == 0:
        raise EngineError("the torch engine needs a CUDA GPU: torch %s finds none on this machine "
                          "(use --engine onnxruntime)" % torch.__version__.split("+")[0])
    if not 0 <= int(device) < n:
        raise EngineError("CUDA device %d does not exist (%d found)" % (int(device), n))
    return torch


def graph_batch_sizes(batch):
    # type: (int) -> list
    """Batch sizes to capture for a context of `batch`: powers of two below it, and `batch` itself."""
    sizes = []
    b = 1
    while b < batch:
        sizes.append(b)
        b *= 2
    sizes.append(batch)
    return sizes


class TorchContext(GpuExecutionContext):
    """A slot ring whose compute is the torch model, eager or replayed from per-slot CUDA graphs."""

    def __init__(self, engine, n_slots, batch):
        super(TorchContext, self).__init__(engine, n_slots, batch)
        torch = engine.torch
        try:
            with self.runtime.activate(), torch.cuda.device(engine.device_index):
                for slot in self.slots:
                    self._prepare(slot)
                if engine.cuda_graphs:
                    with engine.capture_lock:
                        self._capture_all()
        except Exception:
            self.close()
            raise

    def _prepare(self, slot):
        """Torch tensors over the slot's device buffers, and its pycuda stream as a torch stream (made once)."""
        torch = self.engine.torch
        st = slot.native
        dev = torch.device("cuda", self.engine.device_index)
        in_name = self.engine.inputs[0].name
        st.extra["x"] = torch.as_tensor(st.inputs[in_name].device_view(), device=dev)
        st.extra["outs"] = [torch.as_tensor(st.outputs[o.name].device_view(), device=dev) for o in self.engine.outputs]
        st.extra["stream"] = torch.cuda.ExternalStream(st.stream.handle, device=dev)
        st.extra["graphs"] = {}

    def _capture_all(self):
        """Capture every slot's graphs; where capture fails (an op syncs with the host), run this engine eagerly."""
        try:
            for slot in self.slots:
                self._capture(slot)
        except Exception as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            logger.warning("CUDA graph capture failed ({}): the torch engine runs eagerly", msg)
            self.engine.cuda_graphs = False
            self.engine.torch.cuda.synchronize()
            for slot in self.slots:
                self._free_slot_extra(slot)
                self._prepare(slot)

    def _capture(self, slot):
        """Capture one CUDA graph per batch size over this slot's buffers (largest first: it sizes the shared pool).

        Captured on a torch side stream with capture_begin/capture_end (no per-capture gc/empty_cache/device sync as in
        `torch.cuda.graph`); replayed on the slot's pycuda stream."""
        torch = self.engine.torch
        st = slot.native
        x, outs, model = st.extra["x"], st.extra["outs"], self.engine.model
        sizes = list(reversed(graph_batch_sizes(self.batch)))
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.no_grad(), torch.cuda.stream(side):
            for b in sizes:  # warm-up outside capture (cuDNN/cuBLAS pick their kernels here)
                model.run_into(x[:b], outs)
            side.synchronize()
            pool = None
            for b in sizes:
                g = torch.cuda.CUDAGraph()
                g.capture_begin(pool=pool, capture_error_mode="thread_local")
                try:
                    model.run_into(x[:b], outs)
                finally:
                    g.capture_end()
                if pool is None:
                    pool = g.pool()
                st.extra["graphs"][b] = g
        side.synchronize()

    def _enqueue(self, slot):
        torch = self.engine.torch
        st = slot.native
        n = slot.size
        if n <= 0:
            return
        with torch.cuda.device(self.engine.device_index), torch.cuda.stream(st.extra["stream"]):
            graphs = st.extra["graphs"]
            if graphs:
                b = next(s for s in sorted(graphs) if s >= n)
                graphs[b].replay()
            else:
                with torch.no_grad():
                    self.engine.model.run_into(st.extra["x"][:n], st.extra["outs"])

    def _free_slot_extra(self, slot):
        extra = slot.native.extra
        for g in extra.get("graphs", {}).values():
            g.reset()
        extra.clear()


class TorchEngine(Engine):
    """An ONNX model on a CUDA GPU through PyTorch (onnx2torch), on the GPU runtime's pinned buffers and streams.

    `precision` fp32 or fp16 (weights and compute; buffers stay float32), `device` the CUDA device index,
    `cuda_graphs` capture per-slot CUDA graphs (default True), `max_batch` the largest context batch accepted,
    `cudnn_benchmark` let cuDNN time its kernels per shape at warm-up (off by default: it adds tens of seconds to a
    fresh process for every batch size captured), `device_io` take uint8 images and return ranked candidates
    (models/device_io.py: normalisation, box decoding and score selection on the GPU; default True where the model
    family allows). fp32 turns TF32 off in this process.
    """

    name = "torch"

    def __init__(self, model_path, precision="fp32", device=0, cuda_graphs=True, max_batch=256, cudnn_benchmark=False,
                 device_io=True, **options):
        super(TorchEngine, self).__init__()
        if precision is None:
            precision = "fp32"
        if precision not in PRECISIONS:
            raise EngineError("the torch engine runs %s (got --precision %s)" % (" or ".join(PRECISIONS), precision))
        for k in options:
            logger.debug("torch engine: option {} ignored", k)
        torch = import_torch_cuda(device)
        self.torch = torch
        self.device_index = int(device)
        self.runtime = CudaRuntime.get(self.device_index)  # pycuda: the device's primary context (torch's too)
        self.precision = precision
        self.cuda_graphs = True if cuda_graphs is None else bool(cuda_graphs)
        self.device_io = True if device_io is None else bool(device_io)
        self.max_batch = int(max_batch)
        self.capture_lock = threading.Lock()
        self.model_path = model_path
        if precision == "fp32":  # fp32 means fp32: no TF32 convolutions or matrix products (process-wide flags)
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        if cudnn_benchmark:
            torch.backends.cudnn.benchmark = True  # fastest kernels per shape, chosen at warm-up
        from .torch_model import TorchModel
        with self.runtime.activate(), torch.cuda.device(self.device_index):
            # the batch check runs in fp32 (a wrong batch axis gives errors of the outputs' size; fp16 rounding
            # between batch sizes must not be taken for one), then the weights go to fp16
            self.model = TorchModel(model_path, torch.device("cuda", self.device_index), half=False)
            if self.model.batch_dynamic and not self._batch_matches():
                logger.warning("{}: a batch of 2 differs from two single frames; running one frame per call",
                               model_path)
                self.model.batch_dynamic = False
            if precision == "fp16":
                self.model.to_half()
        self.inputs = self.model.inputs
        self.outputs = self.model.outputs
        logger.debug("torch engine: {} {} on {} (batch {}, CUDA graphs {})", model_path, precision,
                     self.runtime.device_name, "dynamic" if self.model.batch_dynamic else "1 per call", self.cuda_graphs)

    def _batch_matches(self):
        """True when the batch-dynamic graph gives for a batch of 2 what it gives for each frame alone (TF32 off
        during the check, so that only a wrong batch axis, not rounding, can fail it)."""
        torch = self.torch
        flags = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        try:
            return self.model.batch_consistent()
        finally:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags
            torch.cuda.synchronize()

    def _context_class(self):
        return TorchContext

    def attach_adapter(self, adapter):
        """With device I/O on and a family that allows it: the GPU normalises the uint8 images and ranks the decoded
        candidates; the engine's tensors become the adapter view's (models/device_io.py)."""
        from ..models.device_io import DeviceIOAdapter, supports_device_io
        if not self.device_io or not supports_device_io(adapter):
            self.device_io = False
            return adapter
        if self.contexts:
            raise EngineError("device I/O must be set before any execution context exists")
        from .torch_device_io import DeviceIO
        io = DeviceIO(self.torch, adapter, self.model.device)
        view = DeviceIOAdapter(adapter, io.top_k, io.pairs)
        self.model.io = io
        self.inputs = [view.input]
        self.outputs = list(view.output_specs)
        logger.debug("torch engine: device I/O on ({} candidates of {} cell-class pairs per image)", io.top_k,
                     io.pairs)
        return view

    def create_context(self, n_slots=2, batch=1):
        if batch > self.max_batch:
            raise EngineError("batch %d is over the torch engine's max_batch %d" % (batch, self.max_batch))
        ctx = TorchContext(self, n_slots, batch)
        self.contexts.append(ctx)
        return ctx

    def describe(self):
        d = {"engine": self.name, "precision": self.precision, "device": "cuda:%d" % self.device_index,
             "gpu": self.runtime.device_name, "torch": self.torch.__version__, "cuda_graphs": self.cuda_graphs,
             "batch_mode": "dynamic" if self.model.batch_dynamic else "one frame per call", "device_io": self.device_io}
        d["compute_capability"] = "%d.%d" % self.runtime.compute_capability
        return d

    def close(self):
        super(TorchEngine, self).close()
        model = getattr(self, "model", None)
        if model is not None:
            self.model = None
            del model
            self.torch.cuda.empty_cache()
