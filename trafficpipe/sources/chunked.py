"""A video file read by several in-process readers at once, each on whole keyframe-aligned chunks (`decode_workers`);
the writer restores frame order. `ChunkWork` is the chunks' shared bookkeeping, also used by the decoder processes'
feed (`decoders/feed.py`)."""
import threading
import time

from ..log import logger
from .feed import FrameFeed
from .framepool import FramePool
from .segments import ChunkReader, mp4_keyframes, plan_chunks


class ChunkWork(object):
    """Keyframe-aligned chunks [(start, stop), ...] of one video file shared by its `readers`: handed out in order
    (`take`), frames counted (`count`), unreadable stretches noted in `gaps` (the writer's `Progress.gaps`); the
    last reader to end closes the source (`done`)."""

    def __init__(self, source, chunks, readers, gaps):
        self.source = source
        self.chunks = chunks
        self.readers = readers
        self.gaps = gaps  # first unreadable frame -> end of its chunk
        self.max_ahead = max(b - a for a, b in chunks) * readers
        self.decoded = 0
        self._next = 0
        self._active = readers
        self._lock = threading.Lock()

    def take(self):
        """The next chunk (start, stop) to decode, or None once all are taken."""
        with self._lock:
            if self._next >= len(self.chunks):
                return None
            chunk = self.chunks[self._next]
            self._next += 1
            return chunk

    def count(self, n):
        with self._lock:
            self.decoded += n

    def position(self, written):
        # type: (int) -> int
        """The writer's position, moved past frames known to be unreadable (they will never be written)."""
        while written in self.gaps:
            written = self.gaps[written]
        return written

    def missing(self, first, stop):
        """Frames first .. stop-1 did not decode: the writer skips them and the source reports them."""
        src = self.source
        with self._lock:
            self.gaps[first] = stop
        src.truncated = True
        src.error = "frames %d to %d of %s are unreadable" % (first, stop - 1, src.uri)
        logger.warning("source {}: {}", src.name, src.error)

    def done(self):
        # type: () -> bool
        """A reader has ended; True for the last one, which closes the source (its error naming what was missing)."""
        with self._lock:
            self._active -= 1
            last = self._active == 0
        if last:
            src = self.source
            if self.gaps:
                src.error = "%d of %d frames decoded; unreadable: %s (%s)" % (
                    self.decoded, self.chunks[-1][1], _ranges(self.gaps), src.uri)
            src.close()
        return last


class ChunkedFeed(FrameFeed):
    """`work.readers` readers of one video file, each decoding whole chunks into recycled buffers. A reader waits
    while it is more than a few chunks ahead of the writer (`progress.next_index`), which bounds the frames held for
    reordering."""

    def __init__(self, source, chunks, readers):
        super(ChunkedFeed, self).__init__(source)
        self.work = ChunkWork(source, chunks, readers, self.progress.gaps)
        self.pool = FramePool()
        self.readers = [self.read] * readers

    def read(self, out):
        src, work, progress, pool, stop = self.source, self.work, self.progress, self.pool, out.stop
        clock = time.perf_counter
        fps = src.fps or 30.0
        shape = (src.height, src.width, 3)
        try:
            while not stop.is_set():
                chunk = work.take()
                if chunk is None:
                    break
                start, stop_at = chunk
                reader = ChunkReader(src.uri, start, stop_at)
                try:
                    while not stop.is_set():
                        i = reader.next
                        while i - work.position(progress.next_index) > work.max_ahead:
                            if stop.wait(0.002):
                                return
                        t0 = clock()
                        img = reader.read(pool.get(shape))
                        if img is None:
                            break
                        t1 = clock()
                        out.took(t1 - t0)
                        work.count(1)
                        out.frame(i, img, i / fps, t0, t1, pool)
                    if reader.next < stop_at and not stop.is_set():
                        work.missing(reader.next, stop_at)
                finally:
                    reader.close()
        finally:
            if work.done():
                out.end()


def chunked_feed(source, readers, max_frames=None):
    """A ChunkedFeed of up to `readers` readers for the opened video file `source`, or None where it has no
    keyframe-aligned chunks to share (one reader then reads it)."""
    if readers <= 1 or not source.frame_count:
        return None
    n = source.frame_count if max_frames is None else min(source.frame_count, max_frames)
    chunks = plan_chunks(mp4_keyframes(source.uri), n)
    if len(chunks) < 2:
        logger.debug("source {}: one decoder (no keyframe-aligned chunks)", source.name)
        return None
    logger.debug("source {}: {} decode workers over {} chunks", source.name, min(readers, len(chunks)), len(chunks))
    return ChunkedFeed(source, chunks, min(readers, len(chunks)))


def _ranges(missing):
    # type: (dict) -> str
    """'frames 156-299, frames 400-410' from {start: stop} ranges, adjacent ones merged."""
    merged = []
    for a in sorted(missing):
        b = missing[a]
        if merged and merged[-1][1] >= a:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return ", ".join("frames %d-%d" % (a, b - 1) for a, b in merged)
