"""The source contract and the live-source state machine."""
import os
import re
import time

from ..log import logger
from ..redact import redact, strip_uri_secrets


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
        self.late = 0  # frames a live source lost because its reader was behind (counted as dropped)
        self.captured_at = None  # clock time (perf_counter) the last frame was made, where the source knows it
        self.reconnects = 0
        self.state = SourceState.CONNECTING
        self.error = None  # type: str
        self.truncated = False
        self.unreadable = 0  # frames (or images) that could not be decoded and were skipped
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

    def frame_size(self):
        # type: () -> tuple
        """(width, height) of the frames once known (opened files, connected streams), else None."""
        return (self.width, self.height) if self.width and self.height else None

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
        return {"name": self.name, "uri": redact(self.uri), "live": self.live, "fps": self.fps,
                "width": self.width, "height": self.height, "frame_count": self.frame_count,
                "frames_read": self.frames_read, "late": self.late, "reconnects": self.reconnects, "state": self.state,
                "error": self.error, "truncated": self.truncated, "unreadable": self.unreadable}


def source_name(uri):
    # type: (str) -> str
    """A file-name-safe name for a source: the file's stem, the camera or the stream's host/path (of a GStreamer
    pipeline: its URL's host/path and the elements after it). Never a credential: the userinfo of every URL in it,
    secret query parameters (?password=..., &token=...) and credential properties (user-pw=...) are left out whole,
    names and values (rtsp://u:p@cam:554/y?password=s -> cam_554_y)."""
    u = str(uri)
    if "://" in u:
        u = strip_uri_secrets(u).split("://", 1)[1]  # never a user name, password or token in a file name
    elif "!" in u and not os.path.exists(u):
        u = "gstreamer"
    else:
        u = os.path.basename(u.rstrip("/\\")) or u
        if ("*" in u or "?" in u) and not os.path.exists(str(uri)):
            u = os.path.basename(os.path.dirname(str(uri))) or "images"
        stem, ext = os.path.splitext(u)
        u = stem if ext else u
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", u).strip("._") or "source"
    return name


def number_repeats(names):
    # type: (list) -> list
    """The names with repeats numbered, so that each source gets its own output files: a, a_1, a_2, ...; a number is
    never one that another name already has (a, a, a_1 -> a, a_2, a_1), and names that differ only in case count as
    one (case-insensitive file systems)."""
    given = set(n.lower() for n in names)
    used, last, out = set(), {}, []
    for base in names:
        name, k = base, last.get(base.lower(), 0)
        while name.lower() in used or (name != base and name.lower() in given):
            k += 1
            name = "%s_%d" % (base, k)
        last[base.lower()] = k
        used.add(name.lower())
        out.append(name)
    return out


def output_names(uris, names=None):
    # type: (list, list) -> list
    """Unique output names of sources: each source's name (`names[i]`, else its file stem, camera or stream host/path);
    different files of one stem are told apart by as many parent folders as it takes (dirA/clip.mp4, dirB/clip.mp4 ->
    dirA_clip, dirB_clip); what is still alike (one file given twice) is numbered (`number_repeats`)."""
    names = list(names) if names else [source_name(u) for u in uris]
    groups = {}
    for i, n in enumerate(names):
        groups.setdefault(n.lower(), []).append(i)
    for idx in groups.values():
        files = [i for i in idx if _is_path(uris[i])]
        paths = dict((i, os.path.abspath(str(uris[i]))) for i in files)
        if len(set(p.lower() for p in paths.values())) < 2:
            continue
        parents = dict((i, os.path.dirname(p).replace("\\", "/").strip("/").split("/")) for i, p in paths.items())
        for depth in range(1, max(len(p) for p in parents.values()) + 1):
            cand = dict((i, "_".join(parents[i][-depth:] + [names[i]])) for i in files)
            if len(set(c.lower() for c in cand.values())) == len(set(p.lower() for p in paths.values())):
                break
        for i in files:
            names[i] = re.sub(r"[^A-Za-z0-9._-]+", "_", cand[i]).strip("._") or names[i]
    return number_repeats(names)


def _is_path(uri):
    # type: (object) -> bool
    u = str(uri)
    return "://" not in u and "!" not in u and not u.isdigit() and not u.startswith("/dev/video")
