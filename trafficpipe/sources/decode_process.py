"""Decoding a video file in child processes (`--decode-processes N`): decode and preprocess outside the GIL.

In one process every stage shares the GIL, and on a GPU machine the capture thread (FFmpeg's decoder and its colour
conversion) and the preprocess thread (OpenCV's resize into the engine's pinned input) are the busiest: after every
OpenCV call each must win the GIL back from four other threads. Here each of N spawned children decodes whole
keyframe-aligned chunks of the file (`sources/segments.py`; the whole file where there are none) and, where the model's
preprocessing is given, also resizes each frame into the model's input, both into slots of its own shared ring (a file
in /dev/shm mapped by both processes). The pipeline process only wraps a slot as a numpy image; its preprocess stage
copies the ready input into the engine's pinned buffer (half a megabyte) instead of resizing a 2.7 MB frame.

Protocol per child, over OS pipes carrying fixed-size int32 records (writes of at most PIPE_BUF bytes are atomic, so
one read of a multiple of the record size returns whole records: every ready slot in one GIL hand-off):
  parent -> child  "free":  slot ids the child may decode into; STOP asks it to end.
  child -> parent  "ready": (slot, frame index, 0) per frame; (MISSING, first, stop) for frames that could not be
                   decoded; (READY, 0, 0) once the file is open; (END, frames, 0) after the last one.
and a multiprocessing Connection (child -> parent) for the end: ("end", frames) or ("error", one line).

The children are started and open the file before the run's clock starts (like building the engine's contexts); they
decode nothing until the run starts, when the parent hands them their free slots. The ring is the backpressure: a
child waits for its slots to come back (the writer's FramePool.put once a frame is written; for a ring of model inputs
only, the preprocess stage's once the input is copied), so no frame is ever dropped.
"""
import collections
import mmap
import multiprocessing
import os
import select
import struct
import sys
import tempfile
import threading
import time
import types

import numpy as np

from ..errors import SourceError
from ..log import logger

_SHM_DIR = "/dev/shm"
STOP = -1
END = -2
MISSING = -3
READY = -4
MAX_SLOTS = 1000  # the first hand-over of every slot stays one atomic pipe write (PIPE_BUF = 4096 bytes)
_REC = struct.Struct("<3i")
_FREE = struct.Struct("<i")
_READ = _REC.size * 256


_MAIN_LOCK = threading.Lock()


def _unpack(data, size):
    return struct.unpack("<%di" % (len(data) // 4), data[:len(data) - len(data) % size])


class _Stop(Exception):
    pass


class _FreeSlots(object):
    """The child's side of the "free" pipe."""

    def __init__(self, fd):
        self.fd = fd
        self.slots = collections.deque()
        self._pending = b""

    def take(self):
        # type: () -> int
        while not self.slots:
            data = os.read(self.fd, 4096)
            if not data:
                raise _Stop()
            data = self._pending + data
            whole = len(data) - len(data) % 4
            self._pending = data[whole:]
            self.slots.extend(_unpack(data[:whole], 4))
        slot = self.slots.popleft()
        if slot == STOP:
            raise _Stop()
        return slot


def _decode_chunks(uri, chunks, counter, free, target, emit, timing):
    """Decode chunks of `uri` (taken in order through `counter`) into the buffers `target(slot)` gives for free ring
    slots; `emit(record)` each frame's (slot, index, buffer id), a (MISSING, first, stop) for a chunk that ends early,
    (READY, 0, 0) once the first chunk is open. Returns the number of frames decoded. Adds to `timing` (a
    `_Timing`) the seconds spent waiting for free slots and buffers and decoding."""
    from .segments import ChunkReader
    clock = time.perf_counter
    n = 0
    ready = False
    while True:
        with counter.get_lock():
            c = counter.value
            counter.value += 1
        if c >= len(chunks):
            break
        start, stop_at = chunks[c][:2]
        reader = ChunkReader(uri, start, stop_at, chunks[c][2] if len(chunks[c]) > 2 else None)
        try:
            if not reader.cap.isOpened():
                raise SourceError("cannot open %s in a decoder process" % uri)
            if not ready:
                emit((READY, 0, 0))
                ready = True
            while True:
                t0 = clock()
                slot = free.take()
                t1 = clock()
                buf, buf_id = target(slot)
                t2 = clock()
                i = reader.next
                img = reader.read(buf)
                timing.add(t0, t1, t2, clock())
                if img is None:
                    free.slots.appendleft(slot)
                    target(None, buf_id)
                    break
                if img.shape != buf.shape:
                    raise SourceError("frame %d of %s is %dx%d, the first was %dx%d" % (
                        i, uri, img.shape[1], img.shape[0], buf.shape[1], buf.shape[0]))
                if img.ctypes.data != buf.ctypes.data:  # OpenCV made its own array: copy into the buffer
                    buf[...] = img
                n += 1
                emit((slot, i, buf_id))
            if reader.next < stop_at:
                emit((MISSING, reader.next, stop_at))
        finally:
            reader.close()
    if not ready:
        emit((READY, 0, 0))
    return n


class _Timing(object):
    """Where a child's time goes, from its first free slot (the start of the run) to its end: waiting for a free ring
    slot (the pipeline is behind), for a decode buffer (the resize thread is behind), decoding, resizing; with the
    process's CPU seconds over the same span. Sent to the parent with the child's end; t_start and t_end are
    `time.perf_counter()` values (CLOCK_MONOTONIC on Linux: the same clock in every process)."""

    def __init__(self):
        self.start = self.cpu0 = None
        self.wait_slot_s = self.wait_buffer_s = self.decode_s = self.resize_s = 0.0

    def add(self, t0, t1, t2, t3):
        if self.start is None:  # the first slot arrives when the run starts: that wait is not the run's
            self.start, self.cpu0 = t1, time.process_time()
        else:
            self.wait_slot_s += t1 - t0
        self.wait_buffer_s += t2 - t1
        self.decode_s += t3 - t2

    def result(self, frames):
        if self.start is None:
            return {"frames": frames}
        end = time.perf_counter()
        wall = end - self.start
        return {"frames": frames, "t_start": self.start, "t_end": end, "wall_s": wall,
                "fps": frames / wall if wall > 0 else 0.0, "cpu_s": time.process_time() - self.cpu0,
                "wait_slot_s": self.wait_slot_s, "wait_buffer_s": self.wait_buffer_s, "decode_s": self.decode_s,
                "resize_s": self.resize_s}


class _Buffers(object):
    """Where the decode thread decodes: into the ring's frame slot when the ring keeps frames (id -1), else into one
    of a few private buffers, free again once the frame is preprocessed."""

    def __init__(self, frames, frame_shape, count):
        import queue
        self.frames = frames
        self.private = [] if frames is not None else [np.empty(frame_shape, np.uint8) for _ in range(count)]
        for buf in self.private:
            touch_pages(buf, True)
        self.free = queue.Queue()
        for k in range(len(self.private)):
            self.free.put(k)

    def __call__(self, slot, buf_id=None):
        if slot is None:  # a buffer not used after all
            if buf_id is not None and buf_id >= 0:
                self.free.put(buf_id)
            return None
        if self.frames is not None:
            return self.frames[slot], -1
        k = self.free.get()
        return self.private[k], k

    def image(self, slot, buf_id):
        return self.frames[slot] if buf_id < 0 else self.private[buf_id]

    def done(self, buf_id):
        if buf_id >= 0:
            self.free.put(buf_id)


def _child_main(uri, settings, ring_path, n_slots, frame_shape, keep_frames, input_spec, prep, chunks, counter,
                free_conn, ready_conn, status_conn):
    """Child process: decode chunks of `uri` and announce each frame's ring slot. With `prep`, a second thread
    resizes each decoded frame into the slot's model input while the next one decodes (both OpenCV calls release
    the GIL, and only these two threads share it here); without `keep_frames` the ring holds only model inputs and
    frames are decoded into a few private buffers."""
    import queue
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops us
    ready_fd = ready_conn.fileno()
    status = ("end", 0)
    n = 0
    timing = _Timing()

    def write(rec):
        os.write(ready_fd, _REC.pack(rec[0], rec[1], 0 if rec[0] >= 0 else rec[2]))

    try:
        from .video import apply_decoding_settings
        apply_decoding_settings(settings)
        frames, inputs = _ring_views(ring_path, n_slots, frame_shape if keep_frames else None, input_spec, "r+")
        touch_pages(frames, True)  # before READY: page faults belong to the set-up, not to the run
        touch_pages(inputs, True)
        free = _FreeSlots(free_conn.fileno())
        buffers = _Buffers(frames, frame_shape, 4)
        if prep is None:
            n = _decode_chunks(uri, chunks, counter, free, buffers, write, timing)
        else:
            prep_fn = getattr(prep[0], prep[1])
            handoff = queue.Queue(maxsize=4)
            failed = []

            def decode():
                try:
                    handoff.put(_decode_chunks(uri, chunks, counter, free, buffers, handoff.put, timing))
                except BaseException as e:  # noqa: B902 - handed to the main thread
                    failed.append(e)
                    handoff.put(None)

            t = threading.Thread(target=decode, name="decode")
            t.daemon = True
            t.start()
            while True:
                rec = handoff.get()
                if not isinstance(rec, tuple):
                    break
                if rec[0] >= 0:
                    t0 = time.perf_counter()
                    prep_fn(buffers.image(rec[0], rec[2]), inputs[rec[0]])
                    timing.resize_s += time.perf_counter() - t0
                    buffers.done(rec[2])
                write(rec)
            if failed:
                raise failed[0]
            n = rec
        status = ("end", n, timing.result(n))
    except _Stop:
        status = ("end", n, timing.result(n))
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        status = None  # the parent has gone
    except SourceError as e:
        status = ("error", str(e))
    except Exception as e:  # reported to the parent as one line
        status = ("error", "decoder process: %s: %s" % (type(e).__name__, e))
    finally:
        if status is not None:
            try:
                status_conn.send(status)
                write((END, n if isinstance(n, int) else 0, 0))
            except Exception:
                pass


def shm_free_bytes():
    # type: () -> int
    """Free bytes in /dev/shm (0 where there is none)."""
    try:
        st = os.statvfs(_SHM_DIR)
        return int(st.f_bavail * st.f_frsize)
    except OSError:
        return 0


def _slot_bytes(frame_shape, input_spec):
    n = int(np.prod(frame_shape)) if frame_shape is not None else 0
    if input_spec is not None:
        n += int(np.prod(input_spec[0])) * np.dtype(input_spec[1]).itemsize
    return n


def _ring_views(path, n_slots, frame_shape, input_spec, mode):
    """(frames [n, H, W, 3] uint8 or None, inputs [n, ...] or None) over the ring file: frames first, then inputs."""
    mm = np.memmap(path, dtype=np.uint8, mode=mode)
    frames = None
    frame_bytes = 0
    if frame_shape is not None:
        frame_bytes = int(np.prod(frame_shape))
        frames = mm[:n_slots * frame_bytes].view(np.ndarray).reshape((n_slots,) + tuple(frame_shape))
    inputs = None
    if input_spec is not None:
        shape, dtype = tuple(input_spec[0]), np.dtype(input_spec[1])
        size = int(np.prod(shape)) * dtype.itemsize
        base = n_slots * frame_bytes
        inputs = mm[base:base + n_slots * size].view(np.ndarray).view(dtype).reshape((n_slots,) + shape)
    return frames, inputs


def touch_pages(arr, write):
    """Fault in every page of the array `arr` now: the child writes (the shared memory is allocated and zeroed here),
    the parent reads (its own mapping of those pages). A fresh /dev/shm page costs a fault on first use: over a 130 MB
    ring that is about 0.1 s of the child's resize thread, which would otherwise fall inside the run."""
    if arr is None or arr.size == 0:
        return
    flat = arr.reshape(-1).view(np.uint8)
    if write:
        flat[::mmap.PAGESIZE] = 0
    else:
        int(flat[::mmap.PAGESIZE].sum(dtype=np.uint64))


def _ring_file(nbytes):
    # type: (int) -> str
    """A new file of `nbytes` for a ring: in /dev/shm where half its free space holds it, else the temporary folder
    (disk-backed: slower)."""
    in_shm = shm_free_bytes() // 2 >= nbytes
    folder = _SHM_DIR if in_shm else tempfile.gettempdir()
    if not in_shm:
        logger.warning("/dev/shm has no room for a {:.0f} MB decode ring: it is a file in {} (slower)",
                       nbytes / 2.0 ** 20, folder)
    fd, path = tempfile.mkstemp(prefix="trafficpipe-ring-", suffix=".u8", dir=folder)
    try:
        os.ftruncate(fd, nbytes)
    finally:
        os.close(fd)
    return path


def child_preprocessor(adapter):
    """(picklable object, method name) that fills the model's input from a BGR image in a child process, as
    `adapter.preprocess(image, out)` does here; None where the adapter cannot be sent to another process."""
    from ..models.device_io import DeviceIOAdapter
    import pickle
    target = (adapter.inner, "preprocess_u8") if isinstance(adapter, DeviceIOAdapter) else (adapter, "preprocess")
    try:
        pickle.dumps(target[0])
    except Exception as e:  # an adapter holding something a process cannot receive: preprocess here instead
        logger.debug("preprocessing stays in the pipeline process: {}", e)
        return None
    return target


class DecodeChild(object):
    """One child process, its ring of `n_slots` frames and/or model inputs and the parent's ends of its pipes.

    `read()` returns a list of (slot, frame index) ready in one read, MISSING records as ("missing", first, stop),
    and [] at the end; it raises SourceError when the child fails or dies. `returns[slot]` is the FramePool-like
    object whose `put()` (the writer's, once a frame is written) gives the slot back."""

    def __init__(self, ctx, uri, settings, n_slots, frame_shape, keep_frames, input_spec, prep, chunks, counter, name):
        self.uri = uri
        self.name = name
        self.n_slots = n_slots
        self.frame_shape = tuple(int(d) for d in frame_shape)
        self.input_spec = input_spec
        self.returns = [SlotReturn(self, k) for k in range(n_slots)]
        self.held = 0  # slots announced to us and not yet given back
        self._held_lock = threading.Lock()
        self._returns = []  # slots given back, not yet sent
        self.return_batch = max(1, min(8, n_slots // 16))
        self.ended = False
        self.timing = {}  # the child's _Timing result, once it has ended
        ring_frames = self.frame_shape if keep_frames else None
        self._path = _ring_file(n_slots * _slot_bytes(ring_frames, input_spec))
        self.frames, self.inputs = _ring_views(self._path, n_slots, ring_frames, input_spec, "r+")
        self.pinned = False  # the inputs' pages are page-locked (`pin`): a GPU engine copies each from the ring
        self._unpin = None
        free_r, self._free = ctx.Pipe(duplex=False)
        self._ready, ready_w = ctx.Pipe(duplex=False)
        self._status, status_w = ctx.Pipe(duplex=False)
        self._free_fd, self._ready_fd = self._free.fileno(), self._ready.fileno()
        self._send_lock = threading.Lock()
        self._pending = b""
        self._early = []
        self.process = ctx.Process(target=_child_main, name=name, args=(
            uri, settings, self._path, n_slots, self.frame_shape, keep_frames, input_spec, prep, chunks, counter, free_r,
            ready_w, status_w))
        self.process.daemon = True
        with _MAIN_LOCK:  # the child needs nothing of __main__: spawn would re-run a script lacking a __main__ guard
            main = sys.modules["__main__"]
            sys.modules["__main__"] = types.ModuleType("__main__")
            try:
                self.process.start()
            finally:
                sys.modules["__main__"] = main
        for c in (free_r, ready_w, status_w):
            c.close()

    def wait_ready(self, timeout):
        """Block until the child has opened the file (its READY record); SourceError if it fails or dies first."""
        recs = self._read_records(None, timeout)
        if not recs or recs[0][0] == END:
            self._raise_end()
        if recs[0][0] != READY:
            raise SourceError("decoder process of %s: unexpected record %r" % (self.uri, recs[0]))
        self._early = recs[1:]
        touch_pages(self.frames, False)  # the child has written every page: map them here too, before the clock
        touch_pages(self.inputs, False)
        self._unlink()  # both processes have it mapped: nothing is left behind even if this process is killed

    def pin(self, pin_host):
        """Page-lock the ring's model inputs with `pin_host(array) -> (array, unpin)` (engines/gpu_runtime.py), so the
        engine copies each input to the device straight from the ring (no copy into its own pinned buffer).
        EngineError where it cannot; the ring then stays as it was."""
        if self.inputs is not None and not self.pinned:
            self.inputs, self._unpin = pin_host(self.inputs)
            self.pinned = True

    def start(self):
        """Hand the child every slot: it starts decoding."""
        self._write_free(range(self.n_slots))

    def read(self, stop, timeout=60.0):
        """The next records: [(slot, index)] and ("missing", a, b) items; [] once the child has ended."""
        if self.ended:
            return []
        recs = self._early or self._read_records(stop, timeout)
        self._early = []
        out = []
        with self._held_lock:
            self.held += sum(1 for r in recs if r[0] >= 0)
        for kind, a, b in recs:
            if kind >= 0:
                out.append((kind, a))
            elif kind == MISSING:
                out.append(("missing", a, b))
            elif kind == END:
                self._raise_end()
                return out
        return out

    def _raise_end(self):
        self.ended = True
        info = self._status.recv() if self._status.poll(5.0) else (
            "error", "the decoder process of %s ended without a word (exit code %s)" % (self.uri,
                                                                                     self.process.exitcode))
        if info[0] == "error":
            raise SourceError(info[1])
        if len(info) > 2:
            self.timing = info[2]

    def _read_records(self, stop, timeout):
        waited = 0.0
        while True:
            r, _, _ = select.select([self._ready_fd], [], [], 0.1)
            if r:
                break
            waited += 0.1
            if stop is not None and stop.is_set():
                return []
            if not self.process.is_alive():
                r, _, _ = select.select([self._ready_fd], [], [], 0)
                if r:
                    break
                self.ended = True
                raise SourceError("the decoder process of %s died (exit code %s)" % (self.uri, self.process.exitcode))
            if waited >= timeout and self.held < self.n_slots:  # (with every slot held here it waits for us)
                raise SourceError("the decoder process of %s sent nothing for %.0f s" % (self.uri, timeout))
        data = self._pending + os.read(self._ready_fd, _READ)
        if len(data) == len(self._pending):
            self.ended = True
            raise SourceError("the decoder process of %s died (exit code %s)" % (self.uri, self.process.exitcode))
        whole = len(data) - len(data) % _REC.size
        self._pending = data[whole:]
        vals = _unpack(data[:whole], _REC.size)
        return [vals[j:j + 3] for j in range(0, len(vals), 3)]

    def give_back(self, slot):
        """Return a slot to the child (any thread). Slots go back in groups of `return_batch` (one pipe write, one
        GIL hand-off for several frames); `flush()` sends what is left (the writer calls it whenever it is idle)."""
        with self._held_lock:
            self.held -= 1
            self._returns.append(slot)
            if len(self._returns) < self.return_batch:
                return
            slots, self._returns = self._returns, []
        if not self.ended:
            self._write_free(slots)

    def flush(self, force=False):
        """Send the slots given back but not yet sent, where the child is short of free ones (or `force`)."""
        with self._held_lock:
            if not self._returns or (not force and self.n_slots - self.held - len(self._returns) > self.return_batch):
                return
            slots, self._returns = self._returns, []
        if slots and not self.ended:
            self._write_free(slots)

    def _write_free(self, slots):
        slots = list(slots)
        with self._send_lock:
            try:
                os.write(self._free_fd, struct.pack("<%di" % len(slots), *slots))
            except OSError:
                pass  # the child has ended

    def stop(self):
        """Ask the child to end (if still running) without waiting for it; `close()` waits."""
        if getattr(self, "process", None) is not None:
            self._write_free((STOP,))

    def close(self):
        """Stop the child (if still running), wait for it to exit, unpin the ring and delete its file."""
        self.ended = True
        unpin, self._unpin = self._unpin, None
        if unpin is not None:
            try:
                unpin()
            except Exception as e:  # the memory is unmapped with the process anyway
                logger.debug("could not unpin the decode ring of {}: {}", self.uri, e)
        proc = getattr(self, "process", None)
        if proc is not None:
            self._write_free((STOP,))
            proc.join(2.0)
            if proc.is_alive():
                proc.terminate()
                proc.join(2.0)
            self.process = None
            for conn in (self._free, self._ready, self._status):
                conn.close()
        self.frames = self.inputs = None
        self._unlink()

    def _unlink(self):
        path = getattr(self, "_path", None)
        if path:
            self._path = None
            try:
                os.unlink(path)
            except OSError:
                logger.debug("could not remove the decode ring {}", path)


class SlotReturn(object):
    """Stands in for a FramePool on a frame from a decoder process: `put(image)` gives its ring slot back."""

    __slots__ = ("child", "slot")

    def __init__(self, child, slot):
        self.child = child
        self.slot = slot

    def put(self, image):
        self.child.give_back(self.slot)


class DecodeProcesses(object):
    """`n` children decoding `chunks` ([(start, stop)] or [(start, stop, key)], `split_chunks`; taken in order) of the
    video file `uri`; `self.chunks` are the (start, stop) pairs.

    `frame_shape` (H, W, 3) of the file's frames; `input_spec` ((shape, dtype) of one model input) and `prep` (from
    `child_preprocessor`) to preprocess in the children, or None. `n_slots` frames per child's ring. Without
    `keep_frames` (no sink needs the image) and with preprocessing, the rings hold only model inputs."""

    def __init__(self, uri, n, chunks, frame_shape, n_slots, input_spec=None, prep=None, start_timeout=60.0,
                 keep_frames=True):
        from .video import decoding_settings
        ctx = multiprocessing.get_context("spawn")  # no fork of a threaded, CUDA-using process
        self.uri = uri
        plan = list(chunks)
        self.chunks = [tuple(c[:2]) for c in plan]
        self.counter = ctx.Value("i", 0)
        self.children = []
        self.prepared = input_spec is not None and prep is not None
        self.meta = None  # the preprocess meta of every frame, where the children preprocess (open_decoders)
        if not self.prepared:
            input_spec = prep = None
        self.keep_frames = keep_frames or not self.prepared
        try:
            for k in range(max(1, min(int(n), len(self.chunks)))):
                self.children.append(DecodeChild(ctx, uri, decoding_settings(), n_slots, frame_shape,
                                                 self.keep_frames, input_spec, prep, plan, self.counter,
                                                 "trafficpipe-decode-%d" % k))
            for c in self.children:
                c.wait_ready(start_timeout)
        except BaseException:
            self.close()
            raise
        logger.debug("{}: {} decoder process(es), {} chunk(s), {} slots each{}{}", os.path.basename(uri),
                     len(self.children), len(self.chunks), n_slots, ", preprocessing there" if self.prepared else "",
                     "" if self.keep_frames else " (model inputs only)")

    def start(self):
        for c in self.children:
            c.start()

    def flush(self):
        """Send every slot given back but not yet sent to its child."""
        for c in self.children:
            c.flush()

    def pin(self, pin_host):
        """`DecodeChild.pin` for every child; False (and a debug line) where the driver refuses."""
        from ..errors import EngineError
        try:
            for c in self.children:
                c.pin(pin_host)
        except EngineError as e:
            logger.debug("{}: model inputs copied from the decode rings ({})", os.path.basename(self.uri), e)
            return False
        return True

    def stop(self):
        """Ask every child to end, without waiting (the source has ended or the run stops); `close()` waits."""
        for c in self.children:
            c.stop()

    def close(self):
        for c in self.children:
            c.close()


def open_decoders(src, n, max_frames=None, adapter=None, ring_slots=32, keep_frames=True):
    """DecodeProcesses for an opened VideoFileSource `src`: `n` children over its keyframe-aligned chunks (the longest
    split where there are fewer than `n`, `split_chunks`; one child over the whole file where none are known), up to `max_frames`
    frames; with `adapter` (and no reason against it) the children also preprocess, and the result's `meta` is the preprocess meta every frame of the file shares.

    `ring_slots` frames per child. Without `keep_frames` (no sink needs the image) the rings hold only model inputs:
    the preprocess stage gives such a slot back as soon as it has copied the input, so a child decoding ahead of the
    others is not held by the writer's reordering and a small ring (in cache, its pages faulted in before the run)
    does."""
    from .segments import mp4_keyframes, plan_chunks, split_chunks
    total = src.frame_count
    if max_frames is not None:
        total = min(total, max_frames) if total else max_frames
    keyframes = mp4_keyframes(src.uri) if (n > 1 and total) else None
    chunks = plan_chunks(keyframes, total) if keyframes else []
    if len(chunks) < 2:
        chunks = [(0, total or 2 ** 31 - 1)]
    if keyframes and n > len(chunks):
        chunks = split_chunks(chunks, n)  # more decoders than keyframe groups: split the longest ones
    input_spec = prep = meta = None
    first = getattr(src, "_first", None)  # the frame VideoFileSource.open decoded (nothing has read it here)
    if adapter is not None and first is not None:
        prep = child_preprocessor(adapter)
        if prep is not None:
            shape, dtype = tuple(adapter.input_shape), adapter.input.dtype
            meta = adapter.preprocess(first, np.empty(shape, dtype))  # every frame of a file has this size
            input_spec = (shape, np.dtype(dtype).str)
    procs = DecodeProcesses(src.uri, n, chunks, (src.height, src.width, 3), min(ring_slots, MAX_SLOTS), input_spec,
                            prep, keep_frames=keep_frames)
    procs.meta = meta
    return procs
