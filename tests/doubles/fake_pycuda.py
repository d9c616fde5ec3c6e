"""A CPU double of `pycuda.driver`: enough of it for trafficpipe.engines.gpu_runtime to run unchanged.

What it models (and checks, loudly):
- a per-thread context stack: every allocation, copy, stream or event call needs a current context
  (push the primary context first), like the real driver ("invalid device context" otherwise);
- device memory as numpy byte buffers addressed by integer pointers (with guard gaps between allocations):
  any access outside a live allocation raises LaunchError ("an illegal memory access was encountered");
- page-locked host memory (`pagelocked_empty`, whose `.base` is a HostAllocation with `free()`);
- streams whose work runs *later*, in order: async copies and engine work queued on a stream run only when something
  waits for them (`Stream.synchronize`, `Event.synchronize`/`query`, a synchronous copy), so reading a host output
  buffer before waiting on its event shows stale data, as on a GPU;
- events (`record(stream)` marks a stream position) and `Stream.wait_for_event` (cross-stream ordering).

`world(drv)` gives the fake device's bookkeeping (live allocations, copies from unpinned memory) for leak checks; the
TensorRT double uses `stream_by_handle`, `device_bytes` and `ordered_after` to run engines on the same fake memory.
"""
import bisect
import collections
import itertools
import sys
import threading
import types

import numpy as np

_ALIGN = 256
_GAP = 4096


class Error(Exception):
    """Base of the fake driver's errors (pycuda.driver.Error)."""


class LogicError(Error):
    """A call made in a state the driver refuses (no current context, bad argument)."""


class LaunchError(Error):
    """Asynchronous work failed (illegal memory access), reported when it is waited for."""


class MemoryError_(Error):
    """Out of device memory."""


class _World(object):
    """State of one fake machine: devices, memory, streams, per-thread context stacks."""

    def __init__(self, name, compute_capability, total_memory, count):
        self.lock = threading.RLock()
        self.name = name
        self.cc = tuple(compute_capability)
        self.total = int(total_memory)
        self.count = int(count)
        self.initialized = False
        self.local = threading.local()
        self.allocs = {}  # base pointer -> np.uint8 buffer (live device allocations)
        self.bases = []  # sorted live base pointers
        self.freed = {}  # base pointer -> size of freed allocations (for clear error messages)
        self.next_ptr = 0x7F0000000000
        self.used = 0
        self.pinned = {}  # host start address -> (end address, HostAllocation)
        self.streams = {}  # handle -> Stream
        self.handles = itertools.count(0x5A000)
        self.stats = collections.Counter()
        self.primary = {}

    # -- contexts -----------------------------------------------------------------------------------------------
    def stack(self):
        st = getattr(self.local, "stack", None)
        if st is None:
            st = self.local.stack = []
        return st

    def require_context(self, what):
        if not self.initialized:
            raise LogicError("%s failed: initialization error (cuInit not called)" % what)
        if not self.stack():
            raise LogicError("%s failed: invalid device context" % what)

    def current_device(self):
        st = self.stack()
        return st[-1].device if st else None

    # -- device memory ------------------------------------------------------------------------------------------
    def alloc(self, nbytes):
        nbytes = int(nbytes)
        if nbytes <= 0:
            raise LogicError("cuMemAlloc failed: invalid argument")
        with self.lock:
            if self.used + nbytes > self.total:
                raise MemoryError_("cuMemAlloc failed: out of memory")
            ptr = self.next_ptr
            self.next_ptr += -(-nbytes // _ALIGN) * _ALIGN + _GAP
            self.allocs[ptr] = np.zeros(nbytes, np.uint8)
            bisect.insort(self.bases, ptr)
            self.used += nbytes
            self.stats["device_allocs"] += 1
            return ptr

    def free(self, ptr):
        with self.lock:
            buf = self.allocs.pop(ptr, None)
            if buf is None:
                return
            self.bases.remove(ptr)
            self.freed[ptr] = buf.size
            self.used -= buf.size
            self.stats["device_frees"] += 1

    def device_bytes(self, ptr, nbytes):
        """A writable uint8 view of `nbytes` device bytes at `ptr`; LaunchError when outside a live allocation."""
        ptr, nbytes = int(ptr), int(nbytes)
        with self.lock:
            i = bisect.bisect_right(self.bases, ptr) - 1
            if i >= 0:
                base = self.bases[i]
                buf = self.allocs[base]
                off = ptr - base
                if off + nbytes <= buf.size:
                    return buf[off:off + nbytes]
                raise LaunchError("an illegal memory access was encountered: %d bytes at 0x%x run %d bytes past the "
                                  "end of a %d-byte allocation" % (nbytes, ptr, off + nbytes - buf.size, buf.size))
            raise LaunchError("an illegal memory access was encountered: 0x%x is not device memory" % ptr)

    def live_device_allocations(self):
        return len(self.allocs)

    # -- pinned host memory -------------------------------------------------------------------------------------
    def is_pinned(self, arr):
        addr = arr.__array_interface__["data"][0]
        end = addr + arr.nbytes
        with self.lock:
            for start, (stop, _) in self.pinned.items():
                if start <= addr and end <= stop:
                    return True
        return False

    def live_host_allocations(self):
        return len(self.pinned)

    # -- streams ------------------------------------------------------------------------------------------------
    def drain_all(self):
        with self.lock:
            for s in list(self.streams.values()):
                s._drain()

    def stream_by_handle(self, handle):
        """The Stream whose `.handle` is `handle`; None for 0 (the legacy default stream)."""
        handle = int(handle)
        if handle == 0:
            return None
        with self.lock:
            s = self.streams.get(handle)
        if s is None:
            raise LogicError("invalid resource handle: no stream with handle 0x%x" % handle)
        return s

    def ordered_after(self, later, earlier, pos):
        """True if work enqueued on `later` now cannot start before position `pos` of stream `earlier` has run."""
        if earlier is None or later is earlier or later is None or earlier._done >= pos:
            return True
        return any(src is earlier and p >= pos for src, p in later._waits)


def make_driver(name="Fake GPU", compute_capability=(8, 6), total_memory=8 << 30, count=1):
    """A fresh `pycuda.driver` double (its own fake device and memory)."""
    w = _World(name, compute_capability, total_memory, count)
    drv = types.ModuleType("pycuda.driver")
    drv.__doc__ = "fake pycuda.driver (tests/doubles/fake_pycuda.py)"
    drv._world = w
    drv.Error, drv.LogicError, drv.LaunchError, drv.MemoryError = Error, LogicError, LaunchError, MemoryError_

    def init(flags=0):
        w.initialized = True

    class Context(object):
        def __init__(self, device):
            self.device = device

        def push(self):
            if not w.initialized:
                raise LogicError("cuCtxPushCurrent failed: initialization error")
            w.stack().append(self)

        @staticmethod
        def pop():
            st = w.stack()
            if not st:
                raise LogicError("cuCtxPopCurrent failed: invalid device context")
            st.pop()

        @staticmethod
        def get_current():
            st = w.stack()
            return st[-1] if st else None

        @staticmethod
        def get_device():
            w.require_context("cuCtxGetDevice")
            return w.stack()[-1].device

        @staticmethod
        def synchronize():
            w.require_context("cuCtxSynchronize")
            w.drain_all()

        def detach(self):
            pass

    class Device(object):
        def __init__(self, ordinal):
            if not w.initialized:
                raise LogicError("cuDeviceGet failed: initialization error")
            if not 0 <= int(ordinal) < w.count:
                raise LogicError("cuDeviceGet failed: invalid device ordinal")
            self.ordinal = int(ordinal)

        @staticmethod
        def count():
            if not w.initialized:
                raise LogicError("cuDeviceGetCount failed: initialization error")
            return w.count

        def name(self):
            return w.name

        def compute_capability(self):
            return w.cc

        def total_memory(self):
            return w.total

        def pci_bus_id(self):
            return "0000:%02x:00.0" % self.ordinal

        def retain_primary_context(self):
            ctx = w.primary.get(self.ordinal)
            if ctx is None:
                ctx = w.primary[self.ordinal] = Context(self)
            return ctx

        def make_context(self, flags=0):
            ctx = Context(self)
            ctx.push()
            return ctx

        def __eq__(self, other):
            return isinstance(other, Device) and other.ordinal == self.ordinal

        def __hash__(self):
            return self.ordinal

    class DeviceAllocation(object):
        def __init__(self, nbytes):
            w.require_context("cuMemAlloc")
            self._ptr = w.alloc(nbytes)
            self.nbytes = int(nbytes)
            self._freed = False

        def __int__(self):
            return self._ptr

        __index__ = __int__

        def free(self):
            if not self._freed:
                w.require_context("cuMemFree")
                w.free(self._ptr)
                self._freed = True

        def __repr__(self):
            return "<fake DeviceAllocation 0x%x, %d bytes>" % (self._ptr, self.nbytes)

    class HostAllocation(object):
        """Page-locked host memory: numpy arrays made by pagelocked_empty have it as `.base`."""

        def __init__(self, shape, dtype):
            w.require_context("cuMemHostAlloc")
            dtype = np.dtype(dtype)
            n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            self._buf = np.empty(max(n, 1), np.uint8)
            addr = self._buf.__array_interface__["data"][0]
            self.__array_interface__ = {"shape": tuple(shape), "typestr": dtype.str, "data": (addr, False),
                                        "version": 3}
            with w.lock:
                w.pinned[addr] = (addr + self._buf.size, self)
                w.stats["host_allocs"] += 1
            self._addr = addr

        def free(self):
            with w.lock:
                if w.pinned.pop(self._addr, None) is not None:
                    w.stats["host_frees"] += 1

    def mem_alloc(nbytes):
        return DeviceAllocation(nbytes)

    def pagelocked_empty(shape, dtype, order="C", mem_flags=0):
        if isinstance(shape, int):
            shape = (shape,)
        if order != "C":
            raise LogicError("fake pagelocked_empty supports order='C' only")
        return np.asarray(HostAllocation(tuple(int(d) for d in shape), dtype))

    def pagelocked_zeros(shape, dtype, order="C", mem_flags=0):
        a = pagelocked_empty(shape, dtype, order, mem_flags)
        a.fill(0)
        return a

    def mem_get_info():
        w.require_context("cuMemGetInfo")
        return (w.total - w.used, w.total)

    def _host_bytes(arr, writable):
        if not isinstance(arr, np.ndarray):
            arr = np.frombuffer(arr, np.uint8) if not writable else arr
        if not arr.flags.c_contiguous:
            raise LogicError("host buffer must be contiguous")
        if writable and not arr.flags.writeable:
            raise LogicError("host buffer is read-only")
        return arr.reshape(-1).view(np.uint8)

    def _copy_htod(dptr, src):
        data = _host_bytes(src, False)
        w.device_bytes(dptr, data.size)  # validate the pointer at enqueue time, like cuMemcpyHtoDAsync
        def op():
            w.device_bytes(dptr, data.size)[:] = data  # reads host memory when the copy runs
        return op

    def _copy_dtoh(dst, sptr):
        data = _host_bytes(dst, True)
        w.device_bytes(sptr, data.size)
        def op():
            data[:] = w.device_bytes(sptr, data.size)
        return op

    def _submit(op, stream, what, host):
        w.require_context(what)
        if stream is None:
            w.drain_all()
            op()
            return
        if not w.is_pinned(host if isinstance(host, np.ndarray) else np.frombuffer(host, np.uint8)):
            w.stats["unpinned_async_copies"] += 1
        stream._enqueue(op)

    def memcpy_htod_async(dest, src, stream=None):
        _submit(_copy_htod(int(dest), src), stream, "cuMemcpyHtoDAsync", src)

    def memcpy_dtoh_async(dest, src, stream=None):
        _submit(_copy_dtoh(dest, int(src)), stream, "cuMemcpyDtoHAsync", dest)

    def memcpy_dtod_async(dest, src, size, stream=None):
        dptr, sptr, size = int(dest), int(src), int(size)
        w.device_bytes(dptr, size)
        w.device_bytes(sptr, size)

        def op():
            w.device_bytes(dptr, size)[:] = w.device_bytes(sptr, size).copy()
        w.require_context("cuMemcpyDtoDAsync")
        if stream is None:
            w.drain_all()
            op()
        else:
            stream._enqueue(op)

    def memcpy_htod(dest, src):
        _submit(_copy_htod(int(dest), src), None, "cuMemcpyHtoD", src)

    def memcpy_dtoh(dest, src):
        _submit(_copy_dtoh(dest, int(src)), None, "cuMemcpyDtoH", dest)

    class Stream(object):
        def __init__(self, flags=0):
            w.require_context("cuStreamCreate")
            self._ops = collections.deque()
            self._enqueued = 0
            self._done = 0
            self._waits = []  # (source stream, source position) this stream waits for
            with w.lock:
                self.handle = next(w.handles)
                w.streams[self.handle] = self

        def _enqueue(self, fn):
            with w.lock:
                self._enqueued += 1
                self._ops.append((self._enqueued, fn))
                return self._enqueued

        def _drain(self, upto=None):
            with w.lock:
                while self._ops and (upto is None or self._ops[0][0] <= upto):
                    seq, fn = self._ops.popleft()
                    self._done = seq
                    fn()

        def synchronize(self):
            w.require_context("cuStreamSynchronize")
            self._drain()

        def is_done(self):
            w.require_context("cuStreamQuery")
            self._drain()
            return True

        def wait_for_event(self, event):
            w.require_context("cuStreamWaitEvent")
            src, pos = event._stream, event._pos
            if src is None or src is self:
                return
            with w.lock:
                self._waits.append((src, pos))
                self._enqueue(lambda: src._drain(pos))

    class event_flags(object):  # noqa: N801 (pycuda's name)
        DEFAULT = 0
        BLOCKING_SYNC = 1
        DISABLE_TIMING = 2
        INTERPROCESS = 4

    class Event(object):
        def __init__(self, flags=0):
            w.require_context("cuEventCreate")
            if flags & ~7:
                raise ValueError("invalid event flags %r" % flags)
            self.flags = flags
            self._stream = None
            self._pos = 0

        def record(self, stream=None):
            w.require_context("cuEventRecord")
            if stream is None:
                w.drain_all()
                self._stream, self._pos = None, 0
            else:
                self._stream, self._pos = stream, stream._enqueue(lambda: None)
            return self

        def synchronize(self):
            w.require_context("cuEventSynchronize")
            if self._stream is not None:
                self._stream._drain(self._pos)
            return self

        def query(self):
            self.synchronize()
            return True

    for obj in (init, Context, Device, DeviceAllocation, HostAllocation, mem_alloc, pagelocked_empty, pagelocked_zeros,
                mem_get_info, memcpy_htod_async, memcpy_dtoh_async, memcpy_dtod_async, memcpy_htod, memcpy_dtoh,
                Stream, Event, event_flags):
        setattr(drv, obj.__name__, obj)
    return drv


def world(drv):
    """The bookkeeping of a fake driver (live allocations, stats, streams)."""
    return drv._world


def install(monkeypatch, name="Fake GPU", compute_capability=(8, 6), total_memory=8 << 30, count=1):
    """Put a fresh fake `pycuda` / `pycuda.driver` in sys.modules for one test; reset the driver and runtime caches."""
    drv = make_driver(name, compute_capability, total_memory, count)
    pkg = types.ModuleType("pycuda")
    pkg.__path__ = []
    pkg.__doc__ = "fake pycuda (tests/doubles/fake_pycuda.py)"
    pkg.VERSION = (2024, 1)
    pkg.driver = drv
    monkeypatch.setitem(sys.modules, "pycuda", pkg)
    monkeypatch.setitem(sys.modules, "pycuda.driver", drv)
    import trafficpipe.engines.cuda_driver as driver_module
    from trafficpipe.engines import gpu_runtime
    monkeypatch.setattr(driver_module, "_cuda", None)
    monkeypatch.setattr(gpu_runtime.CudaRuntime, "_instances", {})
    return drv
