"""The FrameFeed of a video file decoded by child processes: one reader per child, each wrapping the ring slots its
child announces as frames (with the model input the child prepared, where it did)."""
import time

from ...log import logger
from ..chunked import ChunkWork
from ..feed import FrameFeed
from .processes import open_decoders


class ProcessFeed(FrameFeed):
    """The frames of `decoders` (a started DecodeProcesses) for `source`. A frame holds its ring slot until released
    (`Frame.release`); the slots released go back to the children in groups, and at once when the writer is idle
    (`progress.on_idle`)."""

    bounded = True

    def __init__(self, source, decoders):
        super(ProcessFeed, self).__init__(source)
        self.decoders = decoders
        self.progress.on_idle = decoders.flush
        children = decoders.children
        self.work = ChunkWork(source, decoders.chunks, len(children), self.progress.gaps)
        self.readers = [self._reader(k) for k in range(len(children))]

    def _reader(self, k):
        return lambda out: self.read(k, out)

    def start(self):
        self.decoders.start()

    def pin(self, pin_host):
        """Page-lock the rings' model inputs: the engine copies each input to the device straight from its ring slot,
        which then goes back once the batch has run (instead of once the input is copied)."""
        d = self.decoders
        return len(d.children) if d.prepared and d.pin(pin_host) else 0

    def flush(self):
        self.decoders.flush()

    def timing(self):
        return [dict(child.timing, process=k) for k, child in enumerate(self.decoders.children) if child.timing]

    def close(self):
        self.decoders.close()

    def read(self, k, out):
        """Frames child `k` announces, as they come (every ready slot of one pipe read at once)."""
        src, work, stop = self.source, self.work, out.stop
        child = self.decoders.children[k]
        clock = time.perf_counter
        fps = src.fps or 30.0
        returns, frames, inputs, pinned, meta = child.returns, child.frames, child.inputs, child.pinned, self.decoders.meta
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
                        work.missing(r[1], r[2])
                        continue
                    slot, i = r
                    n += 1
                    out.frame(i, frames[slot] if frames is not None else None, i / fps, t0, t1, returns[slot],
                              model_input=inputs[slot] if inputs is not None else None, meta=meta, pinned=pinned)
                if n:
                    out.took(t1 - t0, n)
                    work.count(n)
        finally:
            if work.done():
                self.decoders.stop()  # joined in close(), after the run's clock: a child's exit takes 10-40 ms
                out.end()


def process_feed(source, plan):
    """A ProcessFeed of `plan.decode_processes` children for the opened video file `source`, its rings sized for the
    run (`plan`, a FeedPlan) and page-locked where the engine reads inputs from host memory (`plan.pin_host`).

    A ring holds enough frames to fill the capture queue and decode ahead, plus every frame the engine's slots hold
    where a frame keeps its ring slot until the batch has run (images kept, or inputs read from the ring); otherwise
    an input-only slot goes back as soon as preprocessing has copied it."""
    hold = plan.keep_images or plan.pin_host is not None
    ring = plan.queue_size + 16 + (plan.engine_frames if hold else 0)
    # without keep_images no stage or sink needs a decoded image once it is preprocessed
    decoders = open_decoders(source, plan.decode_processes, plan.max_frames, plan.adapter, ring, plan.keep_images)
    feed = ProcessFeed(source, decoders)
    if plan.pin_host is not None:
        try:
            pinned = feed.pin(plan.pin_host)
        except BaseException:
            feed.close()
            raise
        logger.debug("source {}: {} decode ring(s) page-locked: inputs copied to the GPU from there", source.name,
                     pinned)
    return feed
