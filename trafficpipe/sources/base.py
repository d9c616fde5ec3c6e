"""The source contract and the live-source state machine."""
import os
import re
import time

from ..log import logger


class SourceState(object):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    ENDED = "ended"
    FAILED = "failed"


class Source(object):
    """Yields BGR uint8 frames. `read()` returns (image, pts seconds) or None at the end; raises SourceError on failure.

    `live` sources are read in real time and may drop frames downstream (drop-oldest); offline ones (files, image
    sets) never drop. `frames_read`, `reconnects`, `state` and `error` feed the run summary.
    """

    live = False

    def __init__(self, uri, name=None):
        self.uri = uri
        self.name = name or source_name(uri)
        self.fps = 0.0
        self.width = 0
        self.height = 0
        self.frame_count = None  # type: int
        self.frames_read = 0
        self.skipped = 0  # frames a live source lost because its reader was behind (counted as dropped)
        self.captured_at = None  # clock time (perf_counter) the last frame was made, where the source knows it
        self.reconnects = 0
        self.state = SourceState.CONNECTING
        self.error = None  # type: str
        self.truncated = False
        self.stop_event = None  # set by the pipeline so waits and retries end promptly

    def open(self):
        """Connect / open; raises SourceError. Fills fps, width, height (and frame_count where known)."""
        raise NotImplementedError

    def read(self, buf=None):
        """(image, pts) or None at the end. `buf`, when given, is a free image of the source's size to decode into
        (sources that cannot reuse it ignore it)."""
        raise NotImplementedError

    def close(self):
        pass

    def set_state(self, state, why=""):
        if state != self.state:
            logger.log("INFO" if state != SourceState.FAILED else "WARNING", "source {}: {} -> {}{}",
                       self.name, self.state, state, (" (%s)" % why) if why else "")
            self.state = state

    def sleep(self, seconds):
        # type: (float) -> bool
        """Wait `seconds` unless the pipeline stops; True if it stopped."""
        if self.stop_event is not None:
            return self.stop_event.wait(seconds)
        time.sleep(seconds)
        return False

    def describe(self):
        # type: () -> dict
        return {"name": self.name, "uri": self.uri, "live": self.live, "fps": self.fps,
                "width": self.width, "height": self.height, "frame_count": self.frame_count,
                "frames_read": self.frames_read, "skipped": self.skipped, "reconnects": self.reconnects, "state": self.state,
                "error": self.error, "truncated": self.truncated}


def source_name(uri):
    # type: (str) -> str
    """A file-name-safe name for a source: the file's stem, the camera or the stream's host/path."""
    u = str(uri)
    if "://" in u:
        u = u.split("://", 1)[1]
    elif "!" in u:
        u = "gstreamer"
    else:
        u = os.path.basename(u.rstrip("/\\")) or u
        if "*" in u or "?" in u:
            u = os.path.basename(os.path.dirname(str(uri))) or "images"
        stem, ext = os.path.splitext(u)
        u = stem if ext else u
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", u).strip("._") or "source"
    return name


def number_repeats(names):
    # type: (list) -> list
    """The names with repeats numbered, so that each source gets its own output files: a, a_1, a_2, ..."""
    seen, out = {}, []
    for base in names:
        k = seen.get(base, 0)
        seen[base] = k + 1
        out.append("%s_%d" % (base, k) if k else base)
    return out
