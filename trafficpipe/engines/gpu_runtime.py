"""CUDA runtime for the GPU engines (pycuda): the device's primary context, pinned host/device buffer pairs, and an
execution context whose slots each own pinned buffers, device buffers, a stream and a completion event.

Threads: every thread that touches CUDA enters `runtime.activate()` (pushes the device's primary context on first entry,
pops it on last exit), so stage threads can launch and free work without "invalid resource handle" errors or a dirty
context stack. Everything is freed explicitly while the context is current (never left to the garbage collector).

pycuda is imported lazily: `import trafficpipe` works without it.
"""
import contextlib
import ctypes
import sys
import threading

import numpy as np

from ..errors import EngineError, first_line as _first_line
from ..log import logger
from .base import ExecutionContext, Slot
from .cuda_driver import cuda_driver


class CudaRuntime(object):
    """One CUDA device's primary context, shared process-wide (`CudaRuntime.get(device)`)."""

    _instances = {}  # type: dict
    _lock = threading.Lock()

    @classmethod
    def get(cls, device=0):
        # type: (int) -> CudaRuntime
        """The process-wide runtime of `device` (created and its primary context retained on first use)."""
        device = int(device)
        with cls._lock:
            rt = cls._instances.get(device)
            if rt is None:
                rt = cls._instances[device] = cls(device)
            return rt

    @classmethod
    def any_open(cls):
        # type: () -> bool
        """True once this process opened a device's runtime (it then holds a CUDA context)."""
        return bool(cls._instances)

    def __init__(self, device=0):
        cuda = cuda_driver()
        try:
            n = cuda.Device.count() if hasattr(cuda.Device, "count") else None
        except Exception:
            n = None
        if n is not None and not 0 <= device < n:
            raise EngineError("CUDA device %d does not exist (%d device%s found)" % (device, n, "" if n == 1 else "s"))
        try:
            self.device = cuda.Device(device)
            self.context = self.device.retain_primary_context()
        except Exception as e:
            raise EngineError("cannot open CUDA device %d: %s" % (device, _first_line(e)))
        self.index = device
        self.device_name = str(self.device.name())
        self.compute_capability = tuple(self.device.compute_capability())
        self._local = threading.local()
        logger.debug("CUDA device {}: {} (sm {}.{})", device, self.device_name, *self.compute_capability)

    @contextlib.contextmanager
    def activate(self):
        """Make the primary context current in the calling thread for the `with` block (nestable, per thread)."""
        local = self._local
        depth = getattr(local, "depth", 0)
        if depth == 0:
            self.context.push()
        local.depth = depth + 1
        try:
            yield self
        finally:
            local.depth -= 1
            if local.depth == 0:
                cuda_driver().Context.pop()

    def mem_get_info(self):
        # type: () -> tuple
        """(free, total) bytes of device memory."""
        with self.activate():
            return tuple(cuda_driver().mem_get_info())

    def pin_host(self, array):
        # type: (np.ndarray) -> tuple
        """Page-lock an existing C-contiguous host array in place (cuMemHostRegister, portable to every context):
        (the array, now seen by CUDA as pinned, so copies from it are asynchronous DMA; a function that unpins it).
        EngineError where the driver refuses (Tegra before Xavier, for one): the caller copies instead.

        Through the driver library itself: pycuda's `register_host_memory` fails on numpy 2 ("returned a result with
        an exception set", pycuda 2026.1)."""
        if not array.flags.c_contiguous or array.nbytes == 0:
            raise EngineError("only a contiguous, non-empty array can be page-locked")
        lib = _driver_library()
        ptr, size = ctypes.c_void_p(array.ctypes.data), ctypes.c_size_t(array.nbytes)
        with self.activate():
            rc = lib.cuMemHostRegister_v2(ptr, size, ctypes.c_uint(_CU_MEMHOSTREGISTER_PORTABLE))
        if rc != 0:
            raise EngineError("cannot page-lock %d MB of host memory (CUDA error %d)" % (array.nbytes >> 20, rc))
        keep = [array]  # the memory stays mapped while registered

        def unpin():
            if keep:
                with self.activate():
                    lib.cuMemHostUnregister(ptr)
                del keep[:]
        return array, unpin

    def is_page_locked(self, array):
        # type: (np.ndarray) -> bool
        """Whether CUDA sees the host memory of `array` as page-locked (cuMemHostGetFlags succeeds)."""
        flags = ctypes.c_uint(0)
        with self.activate():
            return _driver_library().cuMemHostGetFlags(ctypes.byref(flags), ctypes.c_void_p(array.ctypes.data)) == 0

    def describe(self):
        # type: () -> dict
        return {"device": "cuda:%d" % self.index, "gpu": self.device_name,
                "compute_capability": "%d.%d" % self.compute_capability}


_CU_MEMHOSTREGISTER_PORTABLE = 1
_libcuda = []


def _driver_library():
    """The CUDA driver library (libcuda), loaded once, for the calls pycuda lacks or gets wrong."""
    if not _libcuda:
        try:
            lib = ctypes.CDLL("libcuda.so.1" if not sys.platform.startswith("win") else "nvcuda.dll")
        except OSError as e:
            raise EngineError("cannot load the CUDA driver library: %s" % _first_line(e))
        if not hasattr(lib, "cuMemHostRegister_v2"):  # drivers before CUDA 6.5 have the first version only
            lib.cuMemHostRegister_v2 = lib.cuMemHostRegister
        lib.cuMemHostRegister_v2.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint]
        lib.cuMemHostRegister_v2.restype = ctypes.c_int
        lib.cuMemHostUnregister.argtypes = [ctypes.c_void_p]
        lib.cuMemHostUnregister.restype = ctypes.c_int
        lib.cuMemHostGetFlags.argtypes = [ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p]
        lib.cuMemHostGetFlags.restype = ctypes.c_int
        _libcuda.append(lib)
    return _libcuda[0]


#: CU_STREAM_NON_BLOCKING: the slots' streams never wait on the legacy default stream, where other libraries in the
#: process (a hardware decoder's copies, a framework's default-stream work) would otherwise serialise with them
NON_BLOCKING = 1


def blocking_event_flags(cuda):
    # type: (object) -> int
    """Event flags for the slots' completion events: BLOCKING_SYNC (a waiting thread sleeps instead of spinning a
    core at 100%, which on a busy host takes CPU from the decoders) and DISABLE_TIMING (cheaper record/sync)."""
    flags = getattr(cuda, "event_flags", None)
    if flags is None:
        return 0
    return int(getattr(flags, "BLOCKING_SYNC", 0)) | int(getattr(flags, "DISABLE_TIMING", 0))


class DeviceView(object):
    """A device buffer region exposed through `__cuda_array_interface__` (for `torch.as_tensor(view, device='cuda')`).

    Holds a reference to its buffer so the memory outlives any tensor made from it."""

    __slots__ = ("buffer", "__cuda_array_interface__")

    def __init__(self, buffer, shape, dtype, ptr):
        self.buffer = buffer
        self.__cuda_array_interface__ = {"shape": tuple(int(d) for d in shape), "typestr": np.dtype(dtype).str,
                                         "data": (int(ptr), False), "strides": None, "version": 2}


class HostDeviceBuffer(object):
    """A page-locked host array (`.host`) and a device allocation (`.device`) of the same shape and dtype.

    Create and free it while the runtime's context is current (`with runtime.activate(): ...`)."""

    def __init__(self, shape, dtype=np.float32):
        cuda = cuda_driver()
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.host = cuda.pagelocked_empty(self.shape, self.dtype)
        self.host.fill(0)
        self.nbytes = int(self.host.nbytes)
        self.item_nbytes = self.nbytes // self.shape[0] if self.shape and self.shape[0] else self.nbytes
        self.device = cuda.mem_alloc(max(self.nbytes, 1))
        self.device_ptr = int(self.device)

    def device_view(self, n_items=None):
        # type: (int) -> DeviceView
        """The device buffer (or its first `n_items` along axis 0) as a `__cuda_array_interface__` object."""
        shape = self.shape if n_items is None else (int(n_items),) + self.shape[1:]
        return DeviceView(self, shape, self.dtype, self.device_ptr)

    def copy_to_device_async(self, stream, n_items=None):
        """Enqueue host -> device of the first `n_items` (all when None) on `stream`."""
        src = self.host if n_items is None else self.host[:n_items]
        if src.nbytes:
            cuda_driver().memcpy_htod_async(self.device, src, stream)

    def copy_item_to_device_async(self, stream, i):
        """Enqueue host -> device of batch item `i` on `stream`."""
        cuda_driver().memcpy_htod_async(self.device_ptr + i * self.item_nbytes, self.host[i], stream)

    def copy_to_host_async(self, stream, n_items=None):
        """Enqueue device -> host of the first `n_items` (all when None) on `stream`."""
        dst = self.host if n_items is None else self.host[:n_items]
        if dst.nbytes:
            cuda_driver().memcpy_dtoh_async(dst, self.device, stream)

    def free(self):
        """Free the device and the pinned host memory now (the context must be current)."""
        if self.device is not None:
            self.device.free()
            self.device = None
            self.device_ptr = 0
        if self.host is not None:
            base = getattr(self.host, "base", None)
            self.host = None
            if base is not None and hasattr(base, "free"):  # pycuda HostAllocation
                base.free()


class GpuSlotState(object):
    """A slot's CUDA state: `inputs`/`outputs` {name: HostDeviceBuffer}, its `stream` and completion `event`."""

    __slots__ = ("inputs", "outputs", "stream", "event", "extra")

    def __init__(self, inputs, outputs, stream, event):
        self.inputs = inputs  # type: dict
        self.outputs = outputs  # type: dict
        self.stream = stream
        self.event = event
        self.extra = {}  # engine-specific per-slot state (e.g. a captured CUDA graph)


class GpuExecutionContext(ExecutionContext):
    """A slot ring on one CUDA device: per slot pinned host + device buffers, a stream and an event.

    `_launch` enqueues H2D of the filled items (GPU-decoded ones, `slot.device_items`, are resized on the device
    instead; `slot.host_items` are copied from their own page-locked memory, e.g. a decoder process's ring), the
    engine's `_enqueue(slot)`, D2H of the outputs and an event record, then returns; `_wait` blocks on the slot's
    event (the GIL is released meanwhile). Engines implement `_enqueue`.
    """

    takes_host_items = True

    def __init__(self, engine, n_slots, batch):
        rt = getattr(engine, "runtime", None)
        self.runtime = rt if rt is not None else CudaRuntime.get(getattr(engine, "device", 0))
        with self.runtime.activate():
            super(GpuExecutionContext, self).__init__(engine, n_slots, batch)

    def _make_slot(self, index):
        cuda = cuda_driver()
        with self.runtime.activate():
            ins = {s.name: HostDeviceBuffer(s.with_batch(self.batch).shape, s.dtype) for s in self.engine.inputs}
            outs = {s.name: HostDeviceBuffer(self._output_shape(s), s.dtype) for s in self.engine.outputs}
            state = GpuSlotState(ins, outs, cuda.Stream(NON_BLOCKING), cuda.Event(blocking_event_flags(cuda)))
        return Slot(index, self, {k: b.host for k, b in ins.items()}, {k: b.host for k, b in outs.items()}, state)

    def _output_shape(self, spec):
        # type: (object) -> tuple
        """Shape of an output buffer (batch axis first): the declared shape at this context's batch; engines whose
        runtime resolves output shapes override it."""
        return spec.with_batch(self.batch).shape

    def _launch(self, slot):
        st = slot.native
        n = slot.size
        on_device = slot.device_items
        elsewhere = slot.host_items
        with self.runtime.activate():
            if not on_device and not elsewhere:
                for buf in st.inputs.values():
                    buf.copy_to_device_async(st.stream, n)
            else:
                for i in range(n):  # item by item: from the slot's pinned buffers, or from where they already lie
                    if i in on_device:
                        continue
                    got = elsewhere.get(i)
                    for name, buf in st.inputs.items():
                        if got is not None and got[0] == name:
                            cuda_driver().memcpy_htod_async(buf.device_ptr + i * buf.item_nbytes, got[1], st.stream)
                        else:
                            buf.copy_item_to_device_async(st.stream, i)
                if on_device:
                    from .device_frames import resize_device_items
                    resize_device_items(slot)
            self._enqueue(slot)
            for buf in st.outputs.values():
                buf.copy_to_host_async(st.stream, n)
            st.event.record(st.stream)

    def _enqueue(self, slot):
        """Enqueue the engine's compute for the first `slot.size` items on `slot.native.stream` (device buffers)."""
        raise NotImplementedError

    def _wait(self, slot):
        with self.runtime.activate():
            slot.native.event.synchronize()

    def _free_slots(self):
        with self.runtime.activate():
            for slot in self.slots:
                st = slot.native
                if st is None:
                    continue
                st.stream.synchronize()
                for got in st.extra.get("resize_graphs", {}).values():  # engines/device_frames.py
                    if got is not None:
                        got[1].reset()
                self._free_slot_extra(slot)
                for buf in list(st.inputs.values()) + list(st.outputs.values()):
                    buf.free()
                st.inputs.clear()
                st.outputs.clear()
                st.extra.clear()
                st.stream = None  # dropped (destroyed) while the context is current
                st.event = None
                slot.native = None
                slot.host_inputs = {}
                slot.host_outputs = {}

    def _free_slot_extra(self, slot):
        """Engine hook: release engine-specific per-slot state (`slot.native.extra`) while the context is current."""
