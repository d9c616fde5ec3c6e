"""Frame feeds: how a source's frames are produced, behind one interface the capture stage runs.

A `FrameFeed` is built from an opened Source by `factory.open_feeds`, for what the run asks of it (a `FeedPlan`). It
gives the capture stage `readers`, callables `reader(out)` each run in a thread of its own that deliver the source's
frames through a `FrameOut` and end it (`out.end()`, by its last reader); `start()` comes just before they run,
`close()` after the run. Its `progress` (a `Progress`) is its one link with the writer.

Implementations: `SourceFeed` here (one reader calling `Source.read` in this process: video files on the CPU or NVDEC,
image sets, cameras and streams), `chunked.ChunkedFeed` (several readers on keyframe-aligned chunks of a video file)
and `decoders.feed.ProcessFeed` (decoder child processes that also prepare the model's input, handing frames over
through shared-memory rings).
"""
import time
from collections import namedtuple

from .framepool import FramePool

#: What a run asks of its feeds: `max_frames` per source (None: all); `decode_workers` in-process readers and
#: `decode_processes` child decoders per video file; `adapter`: the model family whose input decoder processes may
#: prepare (None: never); `keep_images`: a stage or sink needs the decoded image once it is preprocessed;
#: `queue_size`: the capture queue's capacity per source; `engine_frames`: frames the engine's slots hold at once
#: (slots x batch x contexts); `pin_host`: a GPU context's `pin_host(array) -> (array, unpin)` where the engine copies
#: inputs to the device straight from host memory, else None.
FeedPlan = namedtuple("FeedPlan", ("max_frames", "decode_workers", "decode_processes", "adapter", "keep_images",
                                   "queue_size", "engine_frames", "pin_host"))


class FrameOut(object):
    """Where a reader delivers its frames; the capture stage gives each reader one. `stop` (a threading.Event) is set
    when the run stops: readers end promptly then."""

    stop = None

    def frame(self, index, image, pts, t0, t1, holder=None, made=None, path=None, model_input=None, meta=None,
              pinned=False):
        """Pass frame `index` (read from `t0` to `t1`, perf_counter seconds) downstream; blocks while the queue is
        full (files). `holder.put(image)` takes back what the frame holds (a FramePool buffer, a ring slot) once it
        is released; `made`: when the frame was due (a replayed camera), else t1; `path`: its image file;
        `model_input` (with `meta`): the model's input already prepared, `pinned` where it lies in page-locked
        memory."""
        raise NotImplementedError

    def took(self, seconds, frames=1):
        """Count `frames` read in `seconds` (the capture stage's figures)."""
        raise NotImplementedError

    def end(self, error=None):
        """The source has ended (once, after its last frame); `error`: why, where it failed."""
        raise NotImplementedError


class Progress(object):
    """A source's frames at the writer: the one link between its feed and the writer.

    `next_index`: the next frame in order the writer waits for (set by the writer); `gaps`: first frame -> end of each
    stretch the feed found unreadable (set by the feed; the writer skips them); `on_idle`: None, or called by the
    writer whenever its queue runs empty (decoder processes then get back the ring slots written meanwhile)."""

    __slots__ = ("next_index", "gaps", "on_idle")

    def __init__(self, on_idle=None):
        self.next_index = 0
        self.gaps = {}
        self.on_idle = on_idle


class FrameFeed(object):
    """The frames of one source (see the module's docstring). `live`: frames are dropped (oldest first) rather than
    waited for; `bounded`: its frames hold slots of a bounded ring, so a batch part-filled must not wait long for more
    (the preprocess stage seals it early)."""

    bounded = False

    def __init__(self, source):
        self.source = source
        self.live = bool(source.live)
        self.progress = Progress()
        self.readers = []  # callables reader(out), one thread each

    def start(self):
        """Called just before the readers run (after the run's set-up)."""

    def pin(self, pin_host):
        # type: (object) -> int
        """Page-lock the model inputs the feed prepares with `pin_host`; the rings pinned (0: none)."""
        return 0

    def flush(self):
        """Hand back at once what released frames gave back (the writer's `Progress.on_idle`)."""

    def timing(self):
        # type: () -> list
        """Where the feed's helpers spent their time (decoder processes: one dict each), once they have ended."""
        return []

    def close(self):
        """Release what the feed started (called after the run, error or not; the source is closed by its readers)."""


class SourceFeed(FrameFeed):
    """One reader calling `Source.read` in this process, into buffers recycled through a `FramePool`. Where a video
    file skips a damaged stretch (`position` jumps), the stretch goes to `progress.gaps`."""

    def __init__(self, source, max_frames=None):
        super(SourceFeed, self).__init__(source)
        self.max_frames = max_frames
        self.pool = FramePool()  # decoded-frame buffers, given back as frames are released
        self.readers = [self.read]

    def read(self, out):
        src, stop, limit, pool, gaps = self.source, out.stop, self.max_frames, self.pool, self.progress.gaps
        clock = time.perf_counter
        n = 0
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
                    gaps[n] = pos
                    n = pos
                out.took(t1 - t0)
                # a replayed camera's frame counts from when it was due
                out.frame(n, got[0], got[1], t0, t1, pool, getattr(src, "captured_at", None),
                          getattr(src, "current_path", None))
                n += 1
        finally:
            src.close()
        out.end()
