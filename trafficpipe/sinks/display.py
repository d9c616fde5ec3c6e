"""The live view (`--show`, sink URI `display://0`): the annotated frames of every source in one window (a mosaic for
several sources) with each source's measured frame rate; q, Esc or closing the window stops the run.

The window belongs to one thread (`LiveView`'s), which alone makes GUI calls. The writer hands each source's frames to
it through a `DisplaySink`, which keeps a scaled copy of the newest one (of each frame up to 60 fps; above that, of
those the screen can show): the view does not hold the pipeline back, and the other sinks still get every frame.
"""
import threading
import time
from urllib.parse import parse_qsl, urlsplit

from ..errors import SinkError
from ..log import logger
from .base import Sink
from .mosaic import DEFAULT_MAX_SIZE, Layout, RateMeter
from .windows import check_display, jetson_display_available, open_window


DEFAULT_URI = "display://0"
#: above this rate (frames written per second, over the last second) a source's frame is copied for the screen only
#: once it has shown the previous one: at 1000 fps the writer makes about as many copies as the screen refreshes
MAX_COPIED_FPS = 60.0
#: URI options: hold=1 keeps the last frames on screen after the run until the window is closed; size=WxH the largest
#: window at first; backend=auto|opencv|jetson
OPTIONS = ("hold", "size", "backend")


def is_display_uri(uri):
    # type: (str) -> bool
    return uri.startswith("display://")


class DisplayConfig(object):
    """A parsed `display://N[?hold=1&size=WxH&backend=auto|opencv|jetson]` URI."""

    def __init__(self, uri=DEFAULT_URI):
        parts = urlsplit(uri)
        if parts.scheme != "display" or not parts.netloc.isdigit() or parts.path not in ("", "/"):
            raise SinkError("bad display URI %r: use display://N, e.g. display://0" % uri)
        self.uri = "display://" + parts.netloc
        opts = dict(parse_qsl(parts.query, keep_blank_values=True))
        unknown = sorted(set(opts) - set(OPTIONS))
        if unknown:
            raise SinkError("unknown option %s in %s; choose from %s" % (unknown[0], uri, ", ".join(OPTIONS)))
        self.hold = opts.get("hold", "0") not in ("0", "", "false", "no")
        self.max_size = DEFAULT_MAX_SIZE
        if "size" in opts:
            try:
                w, h = (int(v) for v in opts["size"].lower().split("x"))
            except ValueError:
                w = h = 0
            if w < 16 or h < 16:
                raise SinkError("bad size %r in %s: use WIDTHxHEIGHT, e.g. 1920x1080" % (opts["size"], uri))
            self.max_size = (w, h)
        backend = opts.get("backend", "auto")
        if backend not in ("auto", "opencv", "jetson"):
            raise SinkError("bad backend %r in %s: choose from auto, opencv, jetson" % (backend, uri))
        if backend == "auto":
            backend = "jetson" if jetson_display_available() else "opencv"
        elif backend == "jetson" and not jetson_display_available():
            raise SinkError("backend=jetson in %s needs jetson_utils (jetson-inference), which is not installed" % uri)
        self.backend = backend
        self.checked = False  # whether check_live_view found that a window can open here


class DisplaySink(Sink):
    """Hands one source's annotated frames to the live view, with the rate at which they are written."""

    needs_image = True

    def __init__(self, view, source_id):
        self.view = view
        self.source_id = source_id
        self.rate = RateMeter()

    def write(self, frame):
        self.view.post(self.source_id, frame.image, self.rate.tick(time.perf_counter()))

    def close(self):
        self.view.source_ended(self.source_id)


class LiveView(object):
    """One window showing `sources` (opened Source objects) as a mosaic. `start()` opens it (SinkError when it cannot);
    `sinks` gives each source's DisplaySink list for the pipeline; `on_quit()` is called once when the user presses q
    or Esc or closes the window; `close()` ends it (with `hold`, after waiting for the user to close it)."""

    def __init__(self, config, sources, on_quit=None, title="trafficpipe"):
        self.config = config
        self.names = [s.name for s in sources]
        first = next(((s.width, s.height) for s in sources if s.width and s.height), None)
        self.layout = Layout(len(sources), first, config.max_size)
        self.sinks = [[DisplaySink(self, i)] for i in range(len(sources))]
        self.on_quit = on_quit
        self.title = title
        self.quit_by_user = False
        self.error = None  # type: BaseException
        self._tiles = [None] * len(sources)
        self._fps = [0.0] * len(sources)
        self._ended = [False] * len(sources)
        self._dirty = False
        self._lock = threading.Lock()
        self._opened = threading.Event()
        self._closing = threading.Event()
        self._thread = None  # type: threading.Thread

    def start(self):
        """Open the window in the view's thread; SinkError (one line) when it cannot open."""
        if not self.config.checked:
            check_live_view(self.config)
        self._thread = threading.Thread(target=self._run, name="live-view")
        self._thread.daemon = True
        self._thread.start()
        self._opened.wait()
        if self.error is not None:
            self._thread.join()
            raise self.error if isinstance(self.error, SinkError) else SinkError(
                "the live view cannot open a window: %s" % self.error)
        logger.info("live view: {} source(s) in a {}x{} window; press q or Esc, or close the window, to stop",
                    len(self.names), self.layout.size[0], self.layout.size[1])
        return self

    def bind(self, on_quit):
        """Call `on_quit()` when the user quits (at once if that has happened already)."""
        self.on_quit = on_quit
        if self.quit_by_user:
            on_quit()

    def post(self, source_id, image, fps):
        """The newest annotated frame of a source (copied; called from the writer thread)."""
        if self.quit_by_user or self._closing.is_set():
            return
        if fps > MAX_COPIED_FPS and self._dirty:
            return  # faster than a screen refreshes, and the last one is not yet on screen: no copy of this one
        tile = self.layout.fit(image)
        with self._lock:
            self._tiles[source_id] = tile
            self._fps[source_id] = fps
            self._dirty = True

    def source_ended(self, source_id):
        with self._lock:
            self._ended[source_id] = True
            self._dirty = True

    def close(self, hold=None):
        """Close the window; with `hold` (default: the URI's hold option) only once the user has closed it."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        hold = self.config.hold if hold is None else hold
        try:
            if hold and thread.is_alive():
                logger.info("live view: the run has ended; press q or Esc, or close the window, to exit")
                while thread.is_alive():
                    thread.join(0.1)
        finally:  # Ctrl-C while held, too
            self._closing.set()
            thread.join(10.0)
        if self.error is not None:
            raise SinkError("the live view failed: %s" % self.error)

    def take(self):
        """What the screen shows next: (the sources' newest tiles, their labels, the footer), or None when nothing
        changed since the last call (called by the view's thread)."""
        with self._lock:
            if not self._dirty:
                return None
            self._dirty = False
            labels = ["%s  %.1f fps%s" % (name, fps, "  (ended)" if ended else "")
                      for name, fps, ended in zip(self.names, self._fps, self._ended)]
            footer = "total %.1f fps" % sum(self._fps) if len(self.names) > 1 else None
            return list(self._tiles), labels, footer

    def _run(self):
        try:
            window = open_window(self.config.backend, self.config.uri, self.title, self.layout.size)
        except BaseException as e:  # noqa: B902 - reported by start()
            self.error = e
            self._opened.set()
            return
        self._opened.set()
        try:
            while not self._closing.is_set():
                picture = self.take()
                if picture is not None:
                    window.show(self.layout.compose(*picture))
                if window.poll(10):
                    self._quit()
                    break
        except BaseException as e:  # noqa: B902 - a failing window stops the run; close() reports it
            self.error = e
            self._quit(by_user=False)
        finally:
            try:
                window.close()
            except Exception:  # noqa: B902 - the window is going away regardless
                logger.debug("live view: closing the window failed", exc_info=True)

    def _quit(self, by_user=True):
        if by_user:
            logger.info("live view: closed by the user")
        self.quit_by_user = by_user
        if self.on_quit is not None:
            self.on_quit()


def check_live_view(uri):
    # type: (object) -> DisplayConfig
    """The DisplayConfig of `uri` (a URI or a DisplayConfig), once it is known that a window can open here (SinkError,
    one line, when not): without a display, OpenCV's Qt GUI would abort the process."""
    config = uri if isinstance(uri, DisplayConfig) else DisplayConfig(uri)
    check_display(config.backend)
    config.checked = True
    return config
