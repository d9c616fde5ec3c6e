"""Capture: a thread per source (several per video file with `decode_workers`), reading frames into the preprocess queue.

Files and image sets block when the queue is full (nothing is lost); live sources drop their oldest queued frame.
"""
import threading
import time

from ..errors import SourceError
from ..log import logger
from ..pipeline.control import Stage
from ..pipeline.framepool import FramePool
from ..pipeline.frame import EndOfStream, Frame
from ..pipeline.queues import BLOCK, DROP_OLDEST
from ..sources.segments import ChunkReader, mp4_keyframes, plan_chunks
from ..sources.video import VideoFileSource


class _Chunks(object):
    """Keyframe-aligned chunks of one video file, handed to that source's decode workers in order."""

    def __init__(self, chunks, workers):
        self.chunks = chunks
        self.workers = workers
        self.next = 0
        self.active = workers
        self.decoded = 0
        self.lock = threading.Lock()
        self.max_ahead = max(b - a for a, b in chunks) * workers
        self.missing = {}  # first unreadable frame -> end of its chunk

    def position(self, written):
        # type: (int) -> int
        """The writer's position, moved past frames known to be unreadable (they will never be written)."""
        while written in self.missing:
            written = self.missing[written]
        return written


class CaptureStage(Stage):
    """Reads every source until it ends, then sends EndOfStream. A failing live source ends only itself.

    `progress(source_id)` (set by the pipeline) returns how many frames of a source were written; parallel decode
    workers wait while they are more than a few chunks ahead of it, which bounds the frames held for reordering.
    """

    name = "capture"

    def __init__(self, control, sources, out_q, max_frames=None, decode_workers=1):
        self.sources = sources
        self.out_q = out_q
        self.max_frames = max_frames
        self.frames_in = [0] * len(sources)
        self.progress = None
        self.pools = [FramePool() for _ in sources]  # decoded-frame buffers, given back by the writer
        self._tasks = []  # worker id -> (source id, _Chunks or None)
        for sid, src in enumerate(sources):
            src.stop_event = control.stop
            chunks = self._plan(src, decode_workers)
            if chunks is None:
                self._tasks.append((sid, None))
            else:
                self._tasks.extend((sid, chunks) for _ in range(chunks.workers))
        super(CaptureStage, self).__init__(control, workers=len(self._tasks))

    def _plan(self, src, workers):
        if workers <= 1 or not isinstance(src, VideoFileSource) or not src.frame_count:
            return None
        n = src.frame_count if self.max_frames is None else min(src.frame_count, self.max_frames)
        chunks = plan_chunks(mp4_keyframes(src.uri), n)
        if len(chunks) < 2:
            logger.debug("source {}: one decoder (no keyframe-aligned chunks)", src.name)
            return None
        logger.debug("source {}: {} decode workers over {} chunks", src.name, min(workers, len(chunks)), len(chunks))
        return _Chunks(chunks, min(workers, len(chunks)))

    def work(self, wid):
        sid, chunks = self._tasks[wid]
        if chunks is None:
            self._read_source(sid)
        else:
            self._read_chunks(sid, chunks)

    def _read_source(self, sid):
        src = self.sources[sid]
        policy = DROP_OLDEST if src.live else BLOCK
        q, stop, record = self.out_q, self.control.stop, self.stats.record
        clock = time.perf_counter
        error = None
        n = 0
        limit = self.max_frames
        pool = self.pools[sid]
        shape = (src.height, src.width, 3)
        try:
            while not stop.is_set() and (limit is None or n < limit):
                t0 = clock()
                got = src.read(pool.get(shape))
                if got is None:
                    break
                shape = got[0].shape  # live sources learn their size from the first frame
                t1 = clock()
                frame = Frame(sid, n, t1, got[0], got[1])
                frame.pool = pool
                frame.path = getattr(src, "current_path", None)
                frame.t["capture"] = (t0, t1)
                record(t1 - t0)
                n += 1
                self.frames_in[sid] = n
                q.put(frame, policy)
        except SourceError as e:
            if len(self.sources) == 1 or not src.live:
                raise
            error = str(e)  # a dead live stream never stops the other sources
            src.error = error
            logger.error("{}; the other sources go on", error)
        finally:
            src.close()
        q.put(EndOfStream(sid, error))

    def _read_chunks(self, sid, chunks):
        src = self.sources[sid]
        q, stop, record = self.out_q, self.control.stop, self.stats.record
        clock = time.perf_counter
        fps = src.fps or 30.0
        pool = self.pools[sid]
        shape = (src.height, src.width, 3)
        try:
            while not stop.is_set():
                with chunks.lock:
                    if chunks.next >= len(chunks.chunks):
                        break
                    start, stop_at = chunks.chunks[chunks.next]
                    chunks.next += 1
                reader = ChunkReader(src.uri, start, stop_at)
                try:
                    while not stop.is_set():
                        i = reader.next
                        while self.progress is not None and i - chunks.position(self.progress(sid)) > chunks.max_ahead:
                            if stop.wait(0.002):
                                return
                        t0 = clock()
                        img = reader.read(pool.get(shape))
                        if img is None:
                            break
                        t1 = clock()
                        frame = Frame(sid, i, t1, img, i / fps)
                        frame.pool = pool
                        frame.t["capture"] = (t0, t1)
                        record(t1 - t0)
                        with chunks.lock:
                            chunks.decoded += 1
                            self.frames_in[sid] = chunks.decoded
                        q.put(frame, BLOCK)
                    if reader.next < stop_at and not stop.is_set():
                        with chunks.lock:
                            chunks.missing[reader.next] = stop_at
                        src.truncated = True
                        src.error = "frames %d to %d of %s are unreadable" % (reader.next, stop_at - 1, src.uri)
                        logger.warning("source {}: {}", src.name, src.error)
                finally:
                    reader.close()
        finally:
            with chunks.lock:
                chunks.active -= 1
                last = chunks.active == 0
            if last:
                if chunks.missing:
                    src.error = "%d of %d frames decoded; unreadable: %s (%s)" % (
                        chunks.decoded, chunks.chunks[-1][1], _ranges(chunks.missing), src.uri)
                src.close()
                q.put(EndOfStream(sid))


def _ranges(missing):
    # type: (dict) -> str
    """'156-299, 400-410' from {start: stop} ranges, adjacent ones merged."""
    merged = []
    for a in sorted(missing):
        b = missing[a]
        if merged and merged[-1][1] >= a:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return ", ".join("frames %d-%d" % (a, b - 1) for a, b in merged)
