"""Capture: a thread per source (several per video file with `decode_workers`, or one per decoder process with
`decode_processes`), reading frames into the preprocess queue.

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
from ..sources.decode_process import open_decoders
from ..sources.segments import ChunkReader, mp4_keyframes, plan_chunks
from ..sources.video import VideoFileSource


class _Chunks(object):
    """Keyframe-aligned chunks of one video file, handed to that source's decode workers in order."""

    def __init__(self, chunks, workers, missing):
        self.chunks = chunks
        self.workers = workers
        self.next = 0
        self.active = workers
        self.decoded = 0
        self.lock = threading.Lock()
        self.max_ahead = max(b - a for a, b in chunks) * workers
        self.missing = missing  # first unreadable frame -> end of its chunk (shared with the writer)

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

    def __init__(self, control, sources, out_q, max_frames=None, decode_workers=1, decode_processes=0,
                 adapter=None, ring_slots=32, keep_images=True):
        self.sources = sources
        self.out_q = out_q
        self.max_frames = max_frames
        self.frames_in = [0] * len(sources)
        self.progress = None
        self.pools = [FramePool() for _ in sources]  # decoded-frame buffers, given back by the writer
        self.gaps = [{} for _ in sources]  # per source: first frame of an unreadable stretch -> its end (the writer skips)
        self._tasks = []  # worker id -> (source id, _Chunks or None)
        self._procs = {}  # source id -> DecodeProcesses (started, the file opened; they decode once the stage starts)
        try:
            for sid, src in enumerate(sources):
                src.stop_event = control.stop
                if decode_processes > 0 and isinstance(src, VideoFileSource):
                    # keep_images False: no stage or sink needs a decoded image once it is preprocessed
                    procs = self._procs[sid] = open_decoders(src, decode_processes, max_frames, adapter, ring_slots,
                                                             keep_images)
                    chunks = _Chunks(procs.chunks, len(procs.children), self.gaps[sid])
                    self._tasks.extend((sid, (chunks, procs, k)) for k in range(len(procs.children)))
                    continue
                chunks = self._plan(src, decode_workers, self.gaps[sid])
                if chunks is None:
                    self._tasks.append((sid, None))
                else:
                    self._tasks.extend((sid, chunks) for _ in range(chunks.workers))
        except BaseException:
            self.close()
            raise
        super(CaptureStage, self).__init__(control, workers=len(self._tasks))

    def start(self):
        for procs in self._procs.values():
            procs.start()
        super(CaptureStage, self).start()

    def pin_inputs(self, pin_host):
        # type: (object) -> int
        """Page-lock the model inputs of every decoder process's ring with `pin_host` (a GPU context's): the engine
        then copies each frame's input to the device straight from the ring, and the slot goes back to its child
        once the batch has run (postprocess) instead of once preprocess has copied it. Returns the rings pinned."""
        return sum(len(p.children) for p in self._procs.values() if p.prepared and p.pin(pin_host))

    def flush_returns(self):
        """Send decoder processes the ring slots the writer gave back (called by the writer when it is idle)."""
        for procs in self._procs.values():
            procs.flush()

    def decoder_timing(self):
        # type: () -> list
        """Each ended decoder process's timing (sources/decode_process.py `_Timing`), with its source id."""
        out = []
        for sid, procs in sorted(self._procs.items()):
            for k, child in enumerate(procs.children):
                if child.timing:
                    out.append(dict(child.timing, source_id=sid, process=k))
        return out

    def close(self):
        """Stop every decoder process (called by the pipeline at the end of a run, error or not)."""
        for procs in self._procs.values():
            procs.close()

    def _plan(self, src, workers, missing):
        if workers <= 1 or not isinstance(src, VideoFileSource) or not src.frame_count:
            return None
        n = src.frame_count if self.max_frames is None else min(src.frame_count, self.max_frames)
        chunks = plan_chunks(mp4_keyframes(src.uri), n)
        if len(chunks) < 2:
            logger.debug("source {}: one decoder (no keyframe-aligned chunks)", src.name)
            return None
        logger.debug("source {}: {} decode workers over {} chunks", src.name, min(workers, len(chunks)), len(chunks))
        return _Chunks(chunks, min(workers, len(chunks)), missing)

    def work(self, wid):
        sid, chunks = self._tasks[wid]
        if chunks is None:
            self._read_source(sid)
        elif isinstance(chunks, tuple):
            self._read_process(sid, *chunks)
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
                pos = getattr(src, "position", -1)
                if pos > n:  # frames n .. pos-1 did not decode (the source logged them): the writer skips them
                    if limit is not None and pos >= limit:
                        break
                    self.gaps[sid][n] = pos
                    n = pos
                made = getattr(src, "captured_at", None)  # a replayed camera's frame counts from when it was due
                frame = Frame(sid, n, t1 if made is None else made, got[0], got[1])
                frame.pool = pool
                frame.path = getattr(src, "current_path", None)
                frame.t["capture"] = (t0, t1)
                record(t1 - t0)
                n += 1
                self.frames_in[sid] += 1
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
                        self._missing(src, chunks, reader.next, stop_at)
                finally:
                    reader.close()
        finally:
            self._chunks_done(sid, src, chunks)

    def _read_process(self, sid, chunks, procs, k):
        """Frames a decoder process announces (slots of its shared ring, sources/decode_process.py)."""
        src = self.sources[sid]
        child = procs.children[k]
        q, stop, record = self.out_q, self.control.stop, self.stats.record
        clock = time.perf_counter
        fps = src.fps or 30.0
        returns = child.returns
        frames, inputs, pinned = child.frames, child.inputs, child.pinned
        meta = procs.meta
        try:
            while not stop.is_set():
                t0 = clock()
                recs = child.read(stop)
                if not recs:
                    break
                t1 = clock()
                n = 0
                for r in recs:
                    if r[0] == "missing":
                        self._missing(src, chunks, r[1], r[2])
                        continue
                    slot, i = r
                    frame = Frame(sid, i, t1, frames[slot] if frames is not None else None, i / fps)
                    frame.pool = returns[slot]
                    if inputs is not None:
                        frame.ready = inputs[slot]
                        frame.meta = meta
                        frame.pinned = pinned
                    frame.t["capture"] = (t0, t1)
                    n += 1
                    q.put(frame, BLOCK)
                if n:
                    record(t1 - t0, n)
                    with chunks.lock:
                        chunks.decoded += n
                        self.frames_in[sid] = chunks.decoded
        finally:
            self._chunks_done(sid, src, chunks)

    def _missing(self, src, chunks, first, stop_at):
        with chunks.lock:
            chunks.missing[first] = stop_at
        src.truncated = True
        src.error = "frames %d to %d of %s are unreadable" % (first, stop_at - 1, src.uri)
        logger.warning("source {}: {}", src.name, src.error)

    def _chunks_done(self, sid, src, chunks):
        with chunks.lock:
            chunks.active -= 1
            last = chunks.active == 0
        if last:
            if chunks.missing:
                src.error = "%d of %d frames decoded; unreadable: %s (%s)" % (
                    chunks.decoded, chunks.chunks[-1][1], _ranges(chunks.missing), src.uri)
            src.close()
            procs = self._procs.get(sid)
            if procs is not None:
                procs.stop()  # joined in close(), after the run's clock: a child's exit takes 10-40 ms
            self.out_q.put(EndOfStream(sid))


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
