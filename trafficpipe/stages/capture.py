"""Capture: a thread per reader of every source's frame feed (`sources/feed.py`), putting its frames on the preprocess
queue: files and image sets block when the queue is full (nothing is lost); live sources drop their oldest queued
frame."""
import time

from ..errors import SourceError
from ..log import logger
from ..pipeline.control import Stage
from ..pipeline.frame import EndOfStream, Frame
from ..pipeline.queues import BLOCK, DROP_OLDEST
from ..sources.feed import FrameOut


class _Out(FrameOut):
    """One reader's way into the queue: builds each Frame and counts what it delivered."""

    __slots__ = ("sid", "q", "policy", "stop", "record", "frames")

    def __init__(self, sid, q, policy, stop, record):
        self.sid, self.q, self.policy, self.stop, self.record = sid, q, policy, stop, record
        self.frames = 0

    def frame(self, index, image, pts, t0, t1, holder=None, made=None, path=None, model_input=None, meta=None,
              pinned=False):
        frame = Frame(self.sid, index, t1 if made is None else made, image, pts)
        frame.holder = holder
        frame.path = path
        if model_input is not None:
            frame.model_input, frame.meta, frame.input_pinned = model_input, meta, pinned
        frame.t["capture"] = (t0, t1)
        self.q.put(frame, self.policy)

    def took(self, seconds, frames=1):
        self.record(seconds, frames)
        self.frames += frames

    def end(self, error=None):
        self.q.put(EndOfStream(self.sid, error))


class CaptureStage(Stage):
    """Runs the readers of every feed (one per source, from `sources.factory.open_feeds`) until each source ends, then
    its EndOfStream follows. A live source that fails ends only itself where other sources run."""

    name = "capture"

    def __init__(self, control, feeds, out_q):
        self.feeds = feeds
        self.out_q = out_q
        self._readers = [(sid, reader) for sid, feed in enumerate(feeds) for reader in feed.readers]
        super(CaptureStage, self).__init__(control, workers=len(self._readers))
        # readers end at `end_input` (Pipeline.stop(): what they read still goes on) as at `stop` (which sets it)
        self._outs = [_Out(sid, out_q, DROP_OLDEST if feeds[sid].live else BLOCK, control.end_input, self.stats.record)
                      for sid, _ in self._readers]

    @property
    def frames_in(self):
        # type: () -> list
        """Frames captured per source."""
        counts = [0] * len(self.feeds)
        for (sid, _), out in zip(self._readers, self._outs):
            counts[sid] += out.frames
        return counts

    def start(self):
        for feed in self.feeds:
            feed.start()
        super(CaptureStage, self).start()

    def work(self, wid):
        sid, reader = self._readers[wid]
        feed, out = self.feeds[sid], self._outs[wid]
        try:
            reader(out)
        except SourceError as e:
            if len(self.feeds) == 1 or not feed.live:
                raise
            error = str(e)  # a dead live stream never stops the other sources
            feed.source.error = error
            logger.error("{}; the other sources go on", error)
            out.end(error)

    def timing(self):
        # type: () -> list
        """Where each feed's helpers spent their time (decoder processes), with the source id."""
        return [dict(t, source_id=sid) for sid, feed in enumerate(self.feeds) for t in feed.timing()]

    def close(self):
        """Release what the feeds started (called by the pipeline at the end of a run, error or not)."""
        for feed in self.feeds:
            feed.close()
