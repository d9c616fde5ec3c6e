"""Write: per-source sinks, frames restored to source order by `seq`; files are closed once a source's count is reached."""
import time

from ..errors import SinkError
from ..pipeline.control import Stage
from ..pipeline.frame import EndOfStream
from ..pipeline.metrics import Reservoir, StageStats
from ..sources.feed import Progress


class WriteStage(Stage):
    """Worker w owns the sources with source_id % workers == w and their sinks."""

    name = "write"

    def __init__(self, control, in_qs, sinks, on_frame=None, poll=0.1, steps=None, progress=None):
        super(WriteStage, self).__init__(control, workers=len(in_qs))
        self.in_qs = in_qs
        self.sinks = sinks  # per source: list of Sink
        self.steps = steps or [[] for _ in sinks]  # per source: in-order FrameSteps run before its sinks
        self.step_stats = {}  # step name -> StageStats (its time counts apart from the write stage's)
        for ss in self.steps:
            for st in ss:
                self.step_stats.setdefault(st.name, StageStats(st.name, 1))
        self.on_frame = on_frame
        self.poll = poll
        n = len(sinks)
        self.frames_out = [0] * n  # frames written per source
        self.expected = [-1] * n
        self.closed = [False] * n
        self.latencies = [Reservoir() for _ in range(n)]  # per source: capture -> written, seconds (bounded sample)
        # per source, shared with its feed (sources/feed.py Progress): the next frame in order (differs from
        # frames_out after a skipped gap), the stretches that will never come, what to call when idle
        self.progress = progress if progress is not None else [Progress() for _ in range(n)]
        self._ahead = {}  # id(frame) -> seconds its sinks spent preparing it ahead of its turn (counted with its write)

    def _mine(self, w):
        return [s for s in range(len(self.sinks)) if s % self.workers == w]

    def work(self, w):
        mine = self._mine(w)
        q = self.in_qs[w]
        pending = {s: {} for s in mine}
        received = {s: 0 for s in mine}
        open_sources = set(mine)
        clock = time.perf_counter
        progress = self.progress
        idle = [progress[s].on_idle for s in mine if progress[s].on_idle is not None]
        while open_sources:
            item = q.get(timeout=self.poll) if (not idle or not q.empty()) else None
            if item is None and idle:
                for on_idle in idle:  # before waiting: what was written may be what a decoder process waits for
                    on_idle()
                item = q.get(timeout=self.poll)
            if item is None:  # nothing came: a stretch a feed has since found unreadable may free waiting frames
                for s in open_sources:
                    if progress[s].gaps and pending[s]:
                        self._write_ready(s, pending[s], clock)
                continue
            s = item.source_id
            if isinstance(item, EndOfStream):
                self.expected[s] = item.count
            else:
                received[s] += 1
                pending[s][item.seq] = item
                if item.seq != progress[s].next_index and not self.steps[s]:
                    # held for reordering: format it now, write it quickly in turn (not where in-order steps change it)
                    t0 = clock()
                    for sink in self.sinks[s]:
                        prepare = getattr(sink, "prepare", None)  # (sinks of the API need only write and close)
                        if prepare is not None:
                            prepare(item)
                    self._ahead[id(item)] = clock() - t0
                self._write_ready(s, pending[s], clock)
            if self.expected[s] >= 0 and received[s] >= self.expected[s] and pending[s]:
                # every frame arrived but some indices never will (a damaged stretch of a file): skip the gap
                for seq in sorted(pending[s]):
                    if seq in pending[s]:
                        progress[s].next_index = seq
                        self._write_ready(s, pending[s], clock)
            if self.expected[s] >= 0 and received[s] >= self.expected[s]:
                self._close(s)
                open_sources.discard(s)

    def _write_ready(self, s, pending, clock):
        """Write the frames of source `s` that are next in order."""
        progress = self.progress[s]
        nxt = progress.next_index
        gaps = progress.gaps
        while True:
            if nxt not in pending:
                if nxt not in gaps:
                    break
                nxt = progress.next_index = gaps[nxt]  # frames that will never come (the feed logged them)
                continue
            f = pending.pop(nxt)
            for step in self.steps[s]:
                t0 = clock()
                step.process(f)
                t1 = clock()
                f.t[step.name] = (t0, t1)
                self.step_stats[step.name].record(t1 - t0)
            t0 = clock()
            for sink in self.sinks[s]:
                try:
                    sink.write(f)
                except (IOError, OSError) as e:  # a full disk, a folder gone: one line naming the output
                    raise SinkError("cannot write %s: %s" % (getattr(sink, "path", None) or type(sink).__name__,
                                                             e.strerror or e))
            t1 = clock()
            f.t["write"] = (t0, t1)
            self.stats.record(t1 - t0 + (self._ahead.pop(id(f), 0.0) if self._ahead else 0.0))
            self.latencies[s].add(t1 - f.t_capture)
            f.release()
            nxt += 1
            progress.next_index = nxt
            self.frames_out[s] += 1
            if self.on_frame is not None:
                self.on_frame(f)

    def _close(self, s):
        if not self.closed[s]:
            self.closed[s] = True
            try:
                for step in self.steps[s]:
                    step.close()
            finally:
                for sink in self.sinks[s]:
                    sink.close()

    def _discard(self, s):
        if not self.closed[s]:
            self.closed[s] = True
            for item in self.steps[s] + self.sinks[s]:
                item.discard()

    def finish(self, w):
        # on stop or error: close this worker's files so what was written stays valid and playable; a source the
        # failed run wrote no frame of leaves no empty files (an earlier run's stay as they were)
        failed = self.control.error is not None
        for s in self._mine(w):
            if failed and not self.frames_out[s]:
                self._discard(s)
            else:
                self._close(s)
