"""The pipeline process's side of one decoder child: the process, its ring, its pipes and the slots given back."""
import os
import select
import sys
import threading
import types

from ...errors import SourceError
from ...log import logger
from .child import child_main
from .protocol import END, MISSING, READ_BYTES, READY, RECORD, STOP, pack_slots, unpack
from .ring import remove_ring_file, ring_file, ring_views, slot_bytes, touch_pages

_MAIN_LOCK = threading.Lock()


class DecodeChild(object):
    """One child process, its ring of `n_slots` frames and/or model inputs and the parent's ends of its pipes.

    `read()` returns a list of (slot, frame index) ready in one read, MISSING records as ("missing", first, stop),
    and [] at the end; it raises SourceError when the child fails or dies. `returns[slot]` is the FramePool-like
    object whose `put()` (a frame's `release()`) gives the slot back."""

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
        self.timing = {}  # the child's DecodeTiming result, once it has ended
        ring_frames = self.frame_shape if keep_frames else None
        self._path = ring_file(n_slots * slot_bytes(ring_frames, input_spec))
        self.frames, self.inputs = ring_views(self._path, n_slots, ring_frames, input_spec, "r+")
        self.pinned = False  # the inputs' pages are page-locked (`pin`): a GPU engine copies each from the ring
        self._unpin = None
        free_r, self._free = ctx.Pipe(duplex=False)
        self._ready, ready_w = ctx.Pipe(duplex=False)
        self._status, status_w = ctx.Pipe(duplex=False)
        self._free_fd, self._ready_fd = self._free.fileno(), self._ready.fileno()
        self._send_lock = threading.Lock()
        self._pending = b""
        self._early = []
        self.process = ctx.Process(target=child_main, name=name, args=(
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
        data = self._pending + os.read(self._ready_fd, READ_BYTES)
        if len(data) == len(self._pending):
            self.ended = True
            raise SourceError("the decoder process of %s died (exit code %s)" % (self.uri, self.process.exitcode))
        whole = len(data) - len(data) % RECORD.size
        self._pending = data[whole:]
        vals = unpack(data[:whole], RECORD.size)
        return [vals[j:j + 3] for j in range(0, len(vals), 3)]

    def give_back(self, slot):
        """Return a slot to the child (any thread). Slots go back in groups of `return_batch` (one pipe write, one
        GIL hand-off for several frames); `flush()` sends what is left (the writer has it called whenever it is
        idle)."""
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
                os.write(self._free_fd, pack_slots(slots))
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
            self.pinned = False
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
            remove_ring_file(path)


class SlotReturn(object):
    """Stands in for a FramePool on a frame from a decoder process: `put(image)` gives its ring slot back."""

    __slots__ = ("child", "slot")

    def __init__(self, child, slot):
        self.child = child
        self.slot = slot

    def put(self, image):
        self.child.give_back(self.slot)
