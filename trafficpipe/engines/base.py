"""The engine contract: tensor specs and a ring of I/O slots per execution context (acquire/submit/collect/release).

A *slot* owns the host buffers of one batch: `host_inputs[name]` is [B, ...] (pinned memory on GPU engines), the
preprocess stage writes frame k of the batch into `host_inputs[name][k]`; after `collect`, `host_outputs[name][:n]` hold
the results. A full ring blocks `acquire`: that is the pipeline's backpressure.
"""
import collections
import threading

import numpy as np

from ..errors import EngineError


class TensorSpec(object):
    """Name, shape (batch axis first; -1 or a string for a dynamic axis) and numpy dtype of one engine tensor."""

    __slots__ = ("name", "shape", "dtype")

    def __init__(self, name, shape, dtype=np.float32):
        self.name = name
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    def with_batch(self, batch):
        # type: (int) -> TensorSpec
        """A copy with every dynamic axis fixed: the batch axis to `batch`."""
        return TensorSpec(self.name, (batch,) + tuple(d if isinstance(d, int) and d > 0 else 1 for d in self.shape[1:]),
                          self.dtype)

    @property
    def fixed_batch(self):
        # type: () -> int
        """The graph's fixed batch size, or 0 when the batch axis is dynamic."""
        b = self.shape[0] if self.shape else 0
        return b if isinstance(b, int) and b > 0 else 0

    def __repr__(self):
        return "TensorSpec(%r, %s, %s)" % (self.name, list(self.shape), self.dtype.name)


class Slot(object):
    """One batch of I/O buffers in an execution context's ring."""

    __slots__ = ("index", "context", "host_inputs", "host_outputs", "frames", "size", "t_submit", "t_done", "native",
                 "device_items", "host_items")

    def __init__(self, index, context, host_inputs, host_outputs, native=None):
        self.index = index
        self.context = context
        self.host_inputs = host_inputs  # type: dict
        self.host_outputs = host_outputs  # type: dict
        self.frames = []  # type: list
        self.size = 0  # frames filled (<= batch)
        self.t_submit = 0.0
        self.t_done = 0.0
        self.native = native  # engine-specific state: device buffers, stream, event
        self.device_items = {}  # batch item -> GPU-decoded frame to resize on the device (no host -> device copy)
        self.host_items = {}  # batch item -> (input name, page-locked array elsewhere) copied from there, not host_inputs

    def output_list(self, names, i):
        # type: (list, int) -> list
        """The outputs of batch item `i`, in `names` order (views, valid until release)."""
        return [self.host_outputs[n][i] for n in names]


class ExecutionContext(object):
    """A ring of `n_slots` slots with in-order completion. Engines implement `_launch(slot)` and `_wait(slot)`."""

    #: whether `_launch` copies `slot.host_items` (inputs left in page-locked memory elsewhere, `pin_host`)
    takes_host_items = False

    def __init__(self, engine, n_slots, batch):
        if n_slots < 1:
            raise EngineError("an execution context needs at least one slot")
        self.engine = engine
        self.batch = batch
        self._free = collections.deque()
        self._inflight = collections.deque()
        self._cond = threading.Condition()
        self.slots = []
        self.closed = False
        for i in range(n_slots):
            slot = self._make_slot(i)
            self.slots.append(slot)
            self._free.append(slot)

    # -- ring ------------------------------------------------------------------------------------------------------
    def acquire(self, timeout=None):
        # type: (float) -> Slot
        """A free slot, or None if none frees up within `timeout` seconds (None = wait forever)."""
        with self._cond:
            if not self._free:
                self._cond.wait_for(lambda: self._free or self.closed, timeout)
            if not self._free:
                return None
            slot = self._free.popleft()
        slot.size = 0
        del slot.frames[:]
        slot.device_items.clear()
        slot.host_items.clear()
        return slot

    def submit(self, slot):
        # type: (Slot) -> None
        """Start inference on the first `slot.size` items (asynchronous where the engine can be)."""
        with self._cond:
            self._inflight.append(slot)
        self._launch(slot)

    def pending(self):
        # type: () -> int
        """Number of submitted slots not yet collected."""
        return len(self._inflight)

    def collect(self):
        # type: () -> Slot
        """The oldest submitted slot, once its outputs are in host memory."""
        with self._cond:
            slot = self._inflight.popleft()
        self._wait(slot)
        return slot

    def release(self, slot):
        # type: (Slot) -> None
        """Give a collected slot back to the ring."""
        with self._cond:
            self._free.append(slot)
            self._cond.notify()

    def run(self, slot):
        # type: (Slot) -> Slot
        """submit + collect of one slot (synchronous convenience; the ring must have nothing else in flight)."""
        self.submit(slot)
        return self.collect()

    def close(self):
        """Wait for in-flight work and free the ring's resources."""
        while self._inflight:
            self.collect()
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        self._free_slots()

    # -- engine hooks ----------------------------------------------------------------------------------------------
    def _make_slot(self, index):
        """A slot with plain numpy host buffers; GPU engines override to use pinned memory and device buffers."""
        ins = {s.name: np.zeros(s.with_batch(self.batch).shape, s.dtype) for s in self.engine.inputs}
        outs = {s.name: np.zeros(s.with_batch(self.batch).shape, s.dtype) for s in self.engine.outputs}
        return Slot(index, self, ins, outs)

    def _launch(self, slot):
        raise NotImplementedError

    def _wait(self, slot):
        raise NotImplementedError

    def _free_slots(self):
        pass


class Engine(object):
    """One loaded model. `inputs`/`outputs` are TensorSpecs in graph order; `create_context` makes a slot ring."""

    name = ""
    precision = "fp32"

    def __init__(self):
        self.inputs = []  # type: list
        self.outputs = []  # type: list
        self.contexts = []  # type: list

    @property
    def output_names(self):
        return [o.name for o in self.outputs]

    def create_context(self, n_slots=2, batch=1):
        # type: (int, int) -> ExecutionContext
        """A new execution context (its own slot ring and, on GPU, its own stream(s))."""
        fixed = self.inputs[0].fixed_batch if self.inputs else 0
        if fixed > 1 and batch != fixed:
            raise EngineError("this model has a fixed batch of %d; run it with --batch %d" % (fixed, fixed))
        ctx = self._context_class()(self, n_slots, batch)
        self.contexts.append(ctx)
        return ctx

    def _context_class(self):
        raise NotImplementedError

    def attach_adapter(self, adapter):
        """Called once by the Detector with the model's adapter, before any context exists; returns the adapter to
        use. Engines that take part of the adapter's work onto their device return a wrapped one (and change their
        `inputs`/`outputs` to match); the default keeps both as they are."""
        return adapter

    def infer(self, feed):
        # type: (dict) -> list
        """Synchronous convenience: `feed` {input name: array [n, ...]} -> list of output arrays [n, ...]."""
        n = next(iter(feed.values())).shape[0]
        ctx = getattr(self, "_infer_ctx", None)
        if ctx is None or ctx.batch < n:
            ctx = self._infer_ctx = self.create_context(1, max(n, 1))
        slot = ctx.acquire()
        try:
            for k, v in feed.items():
                slot.host_inputs[k][:n] = v
            slot.size = n
            ctx.run(slot)
            return [slot.host_outputs[o.name][:n].copy() for o in self.outputs]
        finally:
            ctx.release(slot)

    def describe(self):
        # type: () -> dict
        """Engine, precision and device, for summaries and bench reports."""
        return {"engine": self.name, "precision": self.precision}

    def close(self):
        """Close every context and release the model."""
        for ctx in self.contexts:
            if not ctx.closed:
                ctx.close()
        self.contexts = []
