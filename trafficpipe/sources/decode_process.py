"""Decoding a video file in a child process, into a ring of frames in shared memory (`--decode-process`).

In one process every stage shares the GIL: the capture thread, whose decoder is the pipeline's slowest stage on a GPU
machine, then waits for the GIL after each frame (measured on an H200 host: 0.65 ms/frame alone, 0.9-1.3 ms inside the
pipeline). Here the decoder runs in its own process with its own interpreter: it decodes straight into a slot of a
shared ring (a file in /dev/shm, mapped by both processes) and sends the slot number through a pipe; the capture thread
only wraps the slot as a numpy image. The writer gives each slot back once every sink has written it (FramePool.put),
so the ring is also the backpressure: the decoder waits for free slots.

Protocol (two one-way pipes, small pickled tuples):
  parent -> child  "free": slot ids the child may decode into; None = stop.
  child -> parent  "ready": (slot, None) a decoded frame; (None, n) the end after n frames; (None, "error text").
"""
import multiprocessing
import os
import tempfile
import threading

import numpy as np

from ..errors import SourceError
from ..log import logger

_SHM_DIR = "/dev/shm"


def _decode_main(uri, ring_path, shape, n_slots, limit, free_conn, ready_conn):
    """Child process: decode `uri` into the ring's free slots until the end, `limit` frames or a stop."""
    try:
        import cv2
        ring = np.memmap(ring_path, dtype=np.uint8, mode="r+", shape=(n_slots,) + tuple(shape))
        cap = cv2.VideoCapture(uri)
        if not cap.isOpened():
            ready_conn.send((None, "cannot open %s in the decoder process" % uri))
            return
        n = 0
        while limit is None or n < limit:
            slot = free_conn.recv()
            if slot is None:
                break
            buf = ring[slot]
            ok, img = cap.read(buf)
            if not ok or img is None:
                break
            if img.shape != buf.shape:
                ready_conn.send((None, "frame %d of %s is %s, the first was %s" % (n, uri, img.shape, buf.shape)))
                return
            if img.ctypes.data != buf.ctypes.data:  # OpenCV made its own array: copy into the slot
                buf[...] = img
            n += 1
            ready_conn.send((slot, None))
        cap.release()
        ready_conn.send((None, n))
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        pass  # the parent has gone or stops us
    except Exception as e:  # reported to the parent as one line
        try:
            ready_conn.send((None, "decoder process: %s: %s" % (type(e).__name__, e)))
        except Exception:
            pass


def _ring_file(nbytes):
    # type: (int) -> str
    """A new file of `nbytes` for the ring: in /dev/shm where it has room, else in the temporary folder."""
    folder = tempfile.gettempdir()
    try:
        st = os.statvfs(_SHM_DIR)
        if st.f_bavail * st.f_frsize > nbytes * 2:
            folder = _SHM_DIR
    except OSError:
        pass
    fd, path = tempfile.mkstemp(prefix="trafficpipe-ring-", suffix=".u8", dir=folder)
    try:
        os.ftruncate(fd, nbytes)
    finally:
        os.close(fd)
    return path


class ProcessVideoReader(object):
    """Frames of one video file decoded by a child process into a shared ring of `n_slots` images of `shape`.

    `read()` returns the next image (a view of a ring slot, valid until `give_back(image)`), or None at the end;
    raises SourceError when the decoder fails or dies. `frames` counts the images returned; `close()` stops the child
    and removes the ring.
    """

    def __init__(self, uri, shape, n_slots=24, limit=None, start_timeout=60.0):
        self.uri = uri
        self.shape = tuple(int(d) for d in shape)
        self.n_slots = int(n_slots)
        self.frames = 0
        self.ended = False
        self.start_timeout = start_timeout
        self._frame_bytes = int(np.prod(self.shape))
        self._path = _ring_file(self._frame_bytes * self.n_slots)
        self.ring = np.memmap(self._path, dtype=np.uint8, mode="r+", shape=(self.n_slots,) + self.shape)
        self._base = self.ring.ctypes.data
        ctx = multiprocessing.get_context("spawn")  # no fork of a threaded, CUDA-using process
        free_r, self._free = ctx.Pipe(duplex=False)
        self._ready, ready_w = ctx.Pipe(duplex=False)
        self._send_lock = threading.Lock()
        self.process = ctx.Process(target=_decode_main, name="trafficpipe-decode",
                                   args=(uri, self._path, self.shape, self.n_slots, limit, free_r, ready_w))
        self.process.daemon = True
        self.process.start()
        free_r.close()
        ready_w.close()
        self._first = True
        for i in range(self.n_slots):
            self._free.send(i)

    def read(self, stop=None):
        """The next decoded image (a ring slot), or None at the end of the file, `limit`, or when `stop` (an Event)
        is set while waiting."""
        if self.ended:
            return None
        timeout = self.start_timeout if self._first else 30.0
        waited = 0.0
        while not self._ready.poll(0.1):
            waited += 0.1
            if stop is not None and stop.is_set():
                return None
            if waited >= timeout or not self.process.is_alive() and not self._ready.poll(0):
                if not self.process.is_alive():
                    raise SourceError("the decoder process of %s died (exit code %s)"
                                      % (self.uri, self.process.exitcode))
                raise SourceError("the decoder process of %s sent nothing for %.0f s" % (self.uri, timeout))
        self._first = False
        try:
            slot, info = self._ready.recv()
        except (EOFError, OSError):
            code = self.process.exitcode
            raise SourceError("the decoder process of %s died (exit code %s)" % (self.uri, code))
        if slot is None:
            self.ended = True
            if isinstance(info, str):
                raise SourceError(info)
            return None
        self.frames += 1
        return self.ring[slot]

    def give_back(self, image):
        """Return a slot (an image this reader gave out) to the decoder."""
        slot = (image.ctypes.data - self._base) // self._frame_bytes
        if 0 <= slot < self.n_slots and not self.ended:
            with self._send_lock:
                try:
                    self._free.send(int(slot))
                except (OSError, ValueError):
                    pass  # the child has ended or the pipe is closed

    def close(self):
        """Stop the child (if still running) and delete the ring file."""
        self.ended = True
        proc = getattr(self, "process", None)
        if proc is not None:
            with self._send_lock:
                try:
                    self._free.send(None)
                except (OSError, ValueError):
                    pass
            proc.join(2.0)
            if proc.is_alive():
                proc.terminate()
                proc.join(2.0)
            self.process = None
            for conn in (self._free, self._ready):
                conn.close()
        path = getattr(self, "_path", None)
        if path:
            self._path = None
            try:
                os.unlink(path)
            except OSError:
                logger.debug("could not remove the decode ring {}", path)


class RingPool(object):
    """The FramePool interface (get/put) over a ProcessVideoReader's ring: put() gives the slot back to the decoder."""

    def __init__(self, reader):
        self.reader = reader

    def get(self, shape):
        return None

    def put(self, image):
        self.reader.give_back(image)
