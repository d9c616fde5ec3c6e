"""Write: per-source sinks, frames restored to source order by `seq`; files are closed once a source's count is reached."""
import time

from ..pipeline.control import Stage
from ..pipeline.frame import EndOfStream


class WriteStage(Stage):
    """Worker w owns the sources with source_id % workers == w and their sinks."""

    name = "write"

    def __init__(self, control, in_qs, sinks, on_frame=None, poll=0.1):
        super(WriteStage, self).__init__(control, workers=len(in_qs))
        self.in_qs = in_qs
        self.sinks = sinks  # per source: list of Sink
        self.on_frame = on_frame
        self.poll = poll
        n = len(sinks)
        self.frames_out = [0] * n
        self.expected = [-1] * n
        self.closed = [False] * n
        self.latencies = []  # capture -> written, seconds

    def _mine(self, w):
        return [s for s in range(len(self.sinks)) if s % self.workers == w]

    def work(self, w):
        mine = self._mine(w)
        q = self.in_qs[w]
        pending = {s: {} for s in mine}
        open_sources = set(mine)
        clock = time.perf_counter
        while open_sources:
            item = q.get(timeout=self.poll)
            if item is None:
                continue
            s = item.source_id
            if isinstance(item, EndOfStream):
                self.expected[s] = item.count
            else:
                pending[s][item.seq] = item
                nxt = self.frames_out[s]
                while nxt in pending[s]:
                    f = pending[s].pop(nxt)
                    t0 = clock()
                    for sink in self.sinks[s]:
                        sink.write(f)
                    t1 = clock()
                    f.t["write"] = (t0, t1)
                    self.stats.record(t1 - t0)
                    self.latencies.append(t1 - f.t_capture)
                    f.image = None
                    nxt += 1
                    self.frames_out[s] = nxt
                    if self.on_frame is not None:
                        self.on_frame(f)
            if self.expected[s] >= 0 and self.frames_out[s] >= self.expected[s]:
                self._close(s)
                open_sources.discard(s)

    def _close(self, s):
        if not self.closed[s]:
            self.closed[s] = True
            for sink in self.sinks[s]:
                sink.close()

    def finish(self, w):
        # on stop or error: close this worker's files so what was written stays valid and playable
        for s in self._mine(w):
            self._close(s)
