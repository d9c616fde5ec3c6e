"""NVDEC decoding in a child process (`--decoder nvdec-process`): the frames reach this process through CUDA IPC.

Why: PyNvVideoCodec keeps the Python GIL for part of each frame, so an NVDEC decoder in the pipeline's process takes
that time from every stage thread (session 5, `bench/nvdec_contention.py` on an H200: inference on GPU frames ran 3047
fps alone and 2056 beside an NVDEC decoder thread, at the same time per batch). Here the decoder (`NvdecVideoSource`)
runs in a spawned process with its own GIL and decodes into a small ring of CUDA buffers it shares once, by CUDA IPC
handles (torch.multiprocessing), when it starts. Per frame only a slot number crosses the pipe: the child sends
("frame", slot, pts) once the frame is in the slot (its copy synchronised), the reader here copies the slot into a
buffer of its own (one device-to-device copy on its own stream, synchronised) and sends ("free", slot) back. So the
frames this process hands on are its own, recycled through the capture stage's pool as with in-process NVDEC, and the
child never waits on how long the pipeline keeps a frame, only on the ring (it runs up to `ring` frames ahead).

Status: written in session 5 without a GPU to run it on (its GPU tests are in tests/gpu/test_nvdec.py); until they
have passed on a GPU machine this decoder is experimental.
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


def _serve(uri, device, ring, conn):
    """Child process: decode `uri` with NVDEC into `ring` shared CUDA buffers, announcing each frame's slot."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the child ("stop"), also on Ctrl-C
    logger.remove()  # the reader in the parent reports states, warnings and errors, once
    import torch
    import torch.multiprocessing  # noqa: F401 - registers the CUDA-tensor (IPC handle) pickling of Connection.send
    src = NvdecVideoSource(uri, device=device)
    try:
        src.open()
        bufs = [torch.empty((src.height, src.width, 3), dtype=torch.uint8, device="cuda:%d" % device)
                for _ in range(ring)]
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


class NvdecProcessVideoSource(Source):
    """A video file decoded by NVDEC in a child process: `read()` gives (RGB uint8 CUDA tensor [H, W, 3], pts), as
    `NvdecVideoSource` does; every frame, in order; truncation reported as there."""

    live = False

    def __init__(self, uri, name=None, device=0, ring=RING):
        super(NvdecProcessVideoSource, self).__init__(uri, name)
        self.device = int(device)
        self.ring = max(2, int(ring))
        self._proc = self._conn = self._stream = None
        self._bufs = []
        self._lock = threading.Lock()

    def open(self):
        check_video_file(self.uri)
        _, torch = import_nvdec()  # one line here, before a process starts, when NVDEC cannot work at all
        import torch.multiprocessing as tmp
        from ..engines.gpu_runtime import NON_BLOCKING, CudaRuntime, cuda_driver
        ctx = tmp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(self.uri, self.device, self.ring, child), daemon=True,
                                 name="nvdec-%s" % self.name)
        self._proc.start()
        child.close()
        msg = self._recv()
        if msg[0] != "ready":
            self.close()
            raise SourceError(self._failure(msg))
        self._bufs, self.fps, self.frame_count = list(msg[1]), msg[2], msg[3]
        self.height, self.width = int(self._bufs[0].shape[0]), int(self._bufs[0].shape[1])
        self._torch = torch
        self._cuda = cuda_driver()
        self.runtime = CudaRuntime.get(self.device)
        with self.runtime.activate():
            self._stream = self._cuda.Stream(NON_BLOCKING)
        self.set_state(SourceState.STREAMING)

    def _recv(self):
        """The child's next message; ("error", why) when it died without one."""
        while not self._conn.poll(POLL_S):
            if not self._proc.is_alive():
                return ("error", "the NVDEC decoder process ended (exit code %s)" % self._proc.exitcode)
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            return ("error", "the NVDEC decoder process ended (exit code %s)" % self._proc.exitcode)

    def _send(self, msg):
        with self._lock:
            self._conn.send(msg)

    def _failure(self, msg):
        # type: (tuple) -> str
        why = msg[1] if msg[0] == "error" else "unexpected message %r" % (msg[0],)
        return why if os.path.basename(self.uri) in why else "cannot decode %s with NVDEC: %s" % (self.uri, why)

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
            self.error = "NVDEC stopped at frame %d%s (%s); the rest of %s is unreadable" % (
                self.frames_read, " of %d" % self.frame_count if self.frame_count else "", self._failure(msg),
                os.path.basename(self.uri))
            logger.warning("source {}: {}", self.name, self.error)
            self.set_state(SourceState.ENDED)
            return None
        i, pts = msg[1], msg[2]
        src = self._bufs[i]
        if buf is None or tuple(buf.shape) != tuple(src.shape):
            buf = self._torch.empty(tuple(src.shape), dtype=self._torch.uint8, device="cuda:%d" % self.device)
        with self.runtime.activate():
            self._cuda.memcpy_dtod_async(buf.data_ptr(), src.data_ptr(), buf.numel(), self._stream)
            self._stream.synchronize()
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
        d = super(NvdecProcessVideoSource, self).describe()
        d["decoder"] = "nvdec-process"
        return d
