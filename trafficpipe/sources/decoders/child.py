"""The decoder child process: decode chunks of the file into ring slots, resize each frame into the slot's model
input beside it, and announce each ready slot (`protocol.py`)."""
import os
import threading
import time

import numpy as np

from ...errors import SourceError
from .protocol import END, MISSING, READY, RECORD, FreeSlots, Stop
from .ring import ring_views, touch_pages
from .timing import DecodeTiming


def decode_chunks(uri, chunks, counter, free, target, emit, timing):
    """Decode chunks of `uri` (taken in order through `counter`) into the buffers `target(slot)` gives for free ring
    slots (`free`, a FreeSlots); `emit(record)` each frame's (slot, index, buffer id), a (MISSING, first, stop) for a
    chunk that ends early, (READY, 0, 0) once the first chunk is open. Returns the number of frames decoded. Adds to
    `timing` (a DecodeTiming) the seconds spent waiting for free slots and buffers and decoding."""
    from ..segments import ChunkReader
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
                    free.put_back(slot)
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


class Buffers(object):
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


def child_main(uri, settings, ring_path, n_slots, frame_shape, keep_frames, input_spec, prep, chunks, counter,
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
    timing = DecodeTiming()

    def write(rec):
        os.write(ready_fd, RECORD.pack(rec[0], rec[1], 0 if rec[0] >= 0 else rec[2]))

    try:
        from ..video import apply_decoding_settings
        apply_decoding_settings(settings)
        frames, inputs = ring_views(ring_path, n_slots, frame_shape if keep_frames else None, input_spec, "r+")
        touch_pages(frames, True)  # before READY: page faults belong to the set-up, not to the run
        touch_pages(inputs, True)
        free = FreeSlots(free_conn.fileno())
        buffers = Buffers(frames, frame_shape, 4)
        if prep is None:
            n = decode_chunks(uri, chunks, counter, free, buffers, write, timing)
        else:
            prep_fn = getattr(prep[0], prep[1])
            handoff = queue.Queue(maxsize=4)
            failed = []

            def decode():
                try:
                    handoff.put(decode_chunks(uri, chunks, counter, free, buffers, handoff.put, timing))
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
    except Stop:
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
