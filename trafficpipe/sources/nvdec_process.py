"""Decoding in a child process, frames handed over through a ring of shared buffers; `--decoder nvdec-process`.

Why: PyNvVideoCodec keeps the Python GIL for part of each frame, so an NVDEC decoder in the pipeline's process takes
that time from every stage thread (session 5, `bench/nvdec_contention.py` on an H200: inference on GPU frames ran 3047
fps alone and 2056 beside an NVDEC decoder thread, at the same time per batch). `RingProcessSource` runs a source
(`NvdecVideoSource` for `NvdecProcessVideoSource`) in a spawned process with its own GIL, decoding into a small ring of
buffers it shares once when it starts (torch.multiprocessing: CUDA IPC handles for GPU tensors, shared memory for host
ones). Per frame only a slot number crosses the pipe: the child sends ("frame", slot, pts) once the frame is in the
slot (its copy synchronised), the reader copies the slot into a buffer of its own (for GPU frames one device-to-device
copy on its own stream, synchronised) and sends ("free", slot) back. So the frames this process hands on are its own,
recycled through the capture stage's pool as with in-process NVDEC, nothing downstream ever holds a ring slot (no
deadlock whatever the batch), and the child runs at most `ring` frames ahead.

Status: the protocol runs for real on the CPU in tests/test_ring_process.py (OpenCV in the child, shared host tensors);
the NVDEC child and its CUDA IPC were written in session 5 without a GPU to run them on (their tests are in
tests/gpu/test_nvdec.py), so `--decoder nvdec-process` is experimental until those have passed on a GPU machine.
"""
import collections
import os
import signal
import threading

from ..errors import SourceError, first_line
from ..log import logger
from .base import Source, SourceState
from .nvdec import NvdecVideoSource, import_nvdec
from .video import check_video_file

RING = 8  # frames the child may decode ahead of the reader
POLL_S = 0.5  # how often a waiting reader checks that the child is alive


def nvdec_source(uri, device):
    """The child's source for `--decoder nvdec-process` (module level: spawned processes import it by name)."""
    return NvdecVideoSource(uri, device=device)


def _serve(make_source, uri, device, ring, conn):
    """Child process: read `make_source(uri, device)` into `ring` shared buffers (on `device`: a CUDA index, or
    "cpu"), announcing each frame's slot; the source's `read(buf)` must decode into `buf`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the child ("stop"), also on Ctrl-C
    logger.remove()  # the reader in the parent reports states, warnings and errors, once
    import torch
    import torch.multiprocessing  # noqa: F401 - registers the tensor (CUDA IPC handle, shared memory) pickling
    src = make_source(uri, device)
    try:
        src.open()
        where = device if device == "cpu" else "cuda:%d" % device
        bufs = [torch.empty((src.height, src.width, 3), dtype=torch.uint8, device=where) for _ in range(ring)]
    except Exception as e:  # noqa: BLE001 - any failure becomes the parent's one-line SourceError
        conn.send(("error", first_line(e)))
        return
    conn.send(("ready", bufs, src.fps, src.frame_count))
    free = collections.deque(range(ring))
    try:
        while True:
            while not free or conn.poll(0):
                msg = conn.recv()
                if msg[0] == "free":
                    free.append(msg[1])
                elif msg[0] == "stop":
                    return
            i = free.popleft()
            try:
                got = src.read(bufs[i])
            except Exception as e:  # noqa: BLE001
                conn.send(("error", first_line(e)))
                break
            if got is None:
                conn.send(("end", src.truncated, src.error))
                break
            if got[0] is not bufs[i]:  # the frame size changed: the slot gets the new buffer first
                bufs[i] = got[0]
                conn.send(("buffer", i, got[0]))
            conn.send(("frame", i, got[1]))
        while conn.recv()[0] != "stop":  # keep the shared buffers alive until the reader is done with them
            pass
    except (EOFError, OSError):  # the parent went away
        pass
    finally:
        src.close()


class RingProcessSource(Source):
    """A video file read in a child process by `make_source(uri, device)` (a module-level callable), its frames
    handed over through a ring of `ring` shared buffers: `read()` gives (uint8 tensor [H, W, C] on `device`, pts), a
    buffer of this process's own. Every frame, in order; truncation and failures reported as the child's source
    reports them, and a child that dies ends the source with one line."""

    live = False
    decoder = "process"  # describe()'s decoder
    label = "the child process's decoder"  # what error lines call it

    def __init__(self, uri, make_source, name=None, device=0, ring=RING):
        super(RingProcessSource, self).__init__(uri, name)
        self.make_source = make_source
        self.device = device
        self.ring = max(2, int(ring))
        self._proc = self._conn = self._stream = None
        self._bufs = []
        self._lock = threading.Lock()

    def open(self):
        check_video_file(self.uri)
        import torch
        import torch.multiprocessing as tmp
        self._torch = torch
        ctx = tmp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(self.make_source, self.uri, self.device, self.ring, child),
                                 daemon=True, name="%s-%s" % (self.decoder, self.name))
        self._proc.start()
        child.close()
        msg = self._recv()
        if msg[0] != "ready":
            self.close()
            raise SourceError(self._failure(msg))
        self._bufs, self.fps, self.frame_count = list(msg[1]), msg[2], msg[3]
        self.height, self.width = int(self._bufs[0].shape[0]), int(self._bufs[0].shape[1])
        if self._bufs[0].is_cuda:
            from ..engines.gpu_runtime import NON_BLOCKING, CudaRuntime, cuda_driver
            self._cuda = cuda_driver()
            self.runtime = CudaRuntime.get(self.device)
            with self.runtime.activate():
                self._stream = self._cuda.Stream(NON_BLOCKING)
        self.set_state(SourceState.STREAMING)

    def _recv(self):
        """The child's next message; ("error", why) when it died without one."""
        while not self._conn.poll(POLL_S):
            if not self._proc.is_alive():
                return self._died()
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            return self._died()

    def _died(self):
        self._proc.join(2.0)  # reaped, so that its exit code is known
        return ("error", "%s exited with code %s and no message" % (self.label, self._proc.exitcode))

    def _send(self, msg):
        with self._lock:
            self._conn.send(msg)

    @staticmethod
    def _why(msg):
        # type: (tuple) -> str
        return msg[1] if msg[0] == "error" else "unexpected message %r" % (msg[0],)

    def _failure(self, msg):
        # type: (tuple) -> str
        """The one line for a source that could not start."""
        why = self._why(msg)
        return why if os.path.basename(self.uri) in why else "cannot decode %s: %s" % (self.uri, why)

    def read(self, buf=None):
        msg = self._recv()
        while msg[0] == "buffer":
            self._bufs[msg[1]] = msg[2]
            msg = self._recv()
        if msg[0] == "end":
            self.truncated, self.error = bool(msg[1]), msg[2]
            if self.truncated:
                logger.warning("source {}: {}", self.name, self.error)
            self.set_state(SourceState.ENDED)
            return None
        if msg[0] != "frame":
            if self.frames_read == 0:
                raise SourceError(self._failure(msg))
            self.truncated = True  # as the in-process reader: the frames before the failure count
            self.error = "decoding stopped at frame %d%s (%s); the rest of %s is unreadable" % (
                self.frames_read, " of %d" % self.frame_count if self.frame_count else "", self._why(msg),
                os.path.basename(self.uri))
            logger.warning("source {}: {}", self.name, self.error)
            self.set_state(SourceState.ENDED)
            return None
        i, pts = msg[1], msg[2]
        src = self._bufs[i]
        if buf is None or tuple(buf.shape) != tuple(src.shape):
            buf = self._torch.empty_like(src)
        if self._stream is not None:  # one driver copy on this reader's stream (no torch call: see nvdec.py)
            with self.runtime.activate():
                self._cuda.memcpy_dtod_async(buf.data_ptr(), src.data_ptr(), buf.numel(), self._stream)
                self._stream.synchronize()
        else:
            buf.copy_(src)
        self._send(("free", i))
        self.frames_read += 1
        return buf, pts

    def close(self):
        self._bufs = []
        if self._proc is not None:
            try:
                self._send(("stop",))
            except (EOFError, OSError):
                pass
            self._proc.join(5.0)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(2.0)
            self._proc = None
        if self._stream is not None:
            with self.runtime.activate():
                self._stream.synchronize()
                self._stream = None  # destroyed while its context is current
        if self.state == SourceState.STREAMING:
            self.set_state(SourceState.ENDED)

    def describe(self):
        d = super(RingProcessSource, self).describe()
        d["decoder"] = self.decoder
        return d


class NvdecProcessVideoSource(RingProcessSource):
    """`--decoder nvdec-process`: `NvdecVideoSource` in a child process; frames are RGB uint8 CUDA tensors, as with
    `--decoder nvdec`."""

    decoder = "nvdec-process"
    label = "the NVDEC decoder process"

    def __init__(self, uri, name=None, device=0, ring=RING):
        super(NvdecProcessVideoSource, self).__init__(uri, nvdec_source, name=name, device=int(device), ring=ring)

    def open(self):
        check_video_file(self.uri)
        import_nvdec()  # one line here, before a process starts, when NVDEC cannot work at all
        super(NvdecProcessVideoSource, self).open()
