"""Capture: one thread per source, reading frames into the preprocess queue (block for files, drop-oldest live)."""
import time

from ..errors import SourceError
from ..log import logger
from ..pipeline.control import Stage
from ..pipeline.frame import EndOfStream, Frame
from ..pipeline.queues import BLOCK, DROP_OLDEST


class CaptureStage(Stage):
    """Worker i reads source i until it ends, then sends EndOfStream. A failing source ends only itself."""

    name = "capture"

    def __init__(self, control, sources, out_q, max_frames=None):
        super(CaptureStage, self).__init__(control, workers=len(sources))
        self.sources = sources
        self.out_q = out_q
        self.max_frames = max_frames
        self.frames_in = [0] * len(sources)
        for s in sources:
            s.stop_event = control.stop

    def work(self, sid):
        src = self.sources[sid]
        policy = DROP_OLDEST if src.live else BLOCK
        q, stop, record = self.out_q, self.control.stop, self.stats.record
        clock = time.perf_counter
        error = None
        n = 0
        limit = self.max_frames
        try:
            while not stop.is_set() and (limit is None or n < limit):
                t0 = clock()
                got = src.read()
                if got is None:
                    break
                t1 = clock()
                frame = Frame(sid, n, t1, got[0], got[1])
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
