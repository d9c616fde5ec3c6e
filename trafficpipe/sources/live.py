"""Live sources through OpenCV: cameras, rtsp/http streams, GStreamer pipelines; reconnect with exponential backoff."""
import os
import threading
import time

import cv2

from ..errors import SourceError
from ..log import logger
from ..redact import redact_uri
from .base import Source, SourceState, source_name
from .rtsp_probe import rtsp_silence

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "rtp://")

#: OpenCV reads this variable at every FFmpeg open: "key;value|key;value" options for avformat_open_input.
FFMPEG_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"


def has_capture_timeouts():
    # type: () -> bool
    """True where OpenCV (>= 4.6) takes open/read timeouts as VideoCapture parameters."""
    return hasattr(cv2, "CAP_PROP_OPEN_TIMEOUT_MSEC") and hasattr(cv2, "CAP_PROP_READ_TIMEOUT_MSEC")


def default_ffmpeg_options(read_timeout):
    # type: (float) -> str
    """FFmpeg options for RTSP when the user has not set OPENCV_FFMPEG_CAPTURE_OPTIONS.

    RTSP over TCP: no lost packets, and a server that goes away is noticed at once. OpenCV < 4.6 has no timeout
    parameters, so the socket timeout (`stimeout`, microseconds, FFmpeg < 5) keeps a read from blocking forever.
    """
    opts = "rtsp_transport;tcp"
    if not has_capture_timeouts():
        opts += "|stimeout;%d" % int(read_timeout * 1e6)
    return opts


#: a network stream first read this many seconds after it connected is connected again (its buffered frames are old)
STALE_AFTER_S = 1.0


class LiveSource(Source):
    """A camera or stream. States: connecting -> streaming -> reconnecting -> streaming ... -> ended | failed.

    When the stream cannot be opened or stops delivering frames, it is reopened up to `retries` times with delays
    `retry_delay * 2**k` (capped at `max_delay`); the count starts again once a frame arrives. When the attempts are
    spent the source fails with a SourceError. A source that is not opened connects on its first `read()` (in its
    capture thread, so a dead camera delays nothing else). `backend` is an OpenCV capture API (cv2.CAP_*) or None;
    `open_timeout`/`read_timeout` (seconds) bound FFmpeg's network waits (OpenCV >= 4.6 parameters, else the socket
    timeout option). `pts` is wall time since the first frame, so it keeps running across reconnects. A network
    stream first read more than STALE_AFTER_S after it connected is connected again, so that its first frames are current.
    """

    live = True

    def __init__(self, uri, name=None, target=None, backend=None, retries=5, retry_delay=0.5, max_delay=8.0,
                 open_timeout=10.0, read_timeout=5.0):
        super(LiveSource, self).__init__(redact_uri(uri), name or source_name(uri))
        self.target = uri if target is None else target  # what is opened; `uri` (shown and logged) is redacted
        self.backend = backend
        self.retries = max(0, int(retries))
        self.retry_delay = max(0.0, float(retry_delay))
        self.max_delay = float(max_delay)
        self.open_timeout = float(open_timeout)
        self.read_timeout = float(read_timeout)
        self.cap = None
        self.opened = False
        self._t0 = None
        self._attempts = 0  # failed attempts since the last frame
        self._connected_at = 0.0
        self._refreshed = False  # connected again once for current frames (`read`)
        self._silence = None  # why the RTSP server did not answer at the last attempt (`rtsp_probe`)
        self._network = backend is None and isinstance(self.target, str) and \
            self.target.lower().startswith(STREAM_SCHEMES)
        if self._network and self.target.lower().startswith(("rtsp://", "rtsps://")) and \
                FFMPEG_OPTIONS_ENV not in os.environ:
            # set here, in the thread that builds the sources, before any capture thread opens anything
            os.environ[FFMPEG_OPTIONS_ENV] = default_ffmpeg_options(self.read_timeout)

    # -- connection ------------------------------------------------------------------------------------------------
    def _capture(self):
        """A new cv2.VideoCapture on the target, with network timeouts where this OpenCV supports them. An RTSP server
        that does not answer is not handed to OpenCV (an unopened capture instead): its open would hold every other
        FFmpeg open of this process for the whole timeout (`rtsp_probe`)."""
        if self._network and _has_ffmpeg():
            self._silence = rtsp_silence(self.target, self.open_timeout, self._stopping)
            if self._silence:
                logger.info("source {}: {}", self.name, self._silence)
                return cv2.VideoCapture()
        if self._network and has_capture_timeouts() and _has_ffmpeg():
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.open_timeout * 1000),
                      cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.read_timeout * 1000)]
            try:
                return cv2.VideoCapture(self.target, cv2.CAP_FFMPEG, params)
            except (TypeError, cv2.error):  # this build lacks the params overload
                pass
        if self.backend is None:
            return cv2.VideoCapture(self.target)
        return cv2.VideoCapture(self.target, self.backend)

    def _stopping(self):
        # type: () -> bool
        return self.stop_event is not None and self.stop_event.is_set()

    def _capture_aside(self):
        """`_capture` in a helper thread, waited for in short steps: Ctrl-C (or SIGTERM) in the main thread ends the
        wait at once instead of after the network timeout; the capture opened late is then released."""
        box = {}

        def target():
            box["cap"] = cap = self._capture()
            if box.get("abandoned"):
                cap.release()
        t = threading.Thread(target=target, name="connect-%s" % self.name)
        t.daemon = True
        t.start()
        try:
            while t.is_alive():
                t.join(0.05)
        except BaseException:
            box["abandoned"] = True
            raise
        return box["cap"]

    def _connect(self):
        # type: () -> bool
        self._release()
        cap = self._capture() if threading.current_thread() is not threading.main_thread() else self._capture_aside()
        if not cap.isOpened():
            cap.release()
            return False
        self.cap = cap
        self._connected_at = time.time()
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0)
        self.fps = fps if 0 < fps < 1000 else (self.fps or 30.0)
        return True

    def _release(self):
        if self.cap is not None:
            self.cap.release()
            self.cap = None

    def _recover(self, why):
        # type: (str) -> bool
        """Reconnect with backoff: True once connected, False if the pipeline stopped; SourceError when out of tries."""
        if self.state == SourceState.STREAMING:
            self.set_state(SourceState.RECONNECTING, why)
        self._release()
        while self._attempts < self.retries:
            delay = min(self.max_delay, self.retry_delay * (2 ** min(self._attempts, 30)))  # no overflow at 1024
            self._attempts += 1
            logger.info("source {}: retry {}/{} in {:.2f}s", self.name, self._attempts, self.retries, delay)
            if self.sleep(delay):
                return False
            if self._connect():
                if self.state == SourceState.RECONNECTING:
                    self.reconnects += 1
                self.set_state(SourceState.STREAMING, "reconnected" if self.reconnects else "")
                return True
        self.error = "%s: %s after %d %s%s" % (self.uri, why, self.retries, "retry" if self.retries == 1 else "retries",
                                               " (%s)" % self._silence if self._silence else "")
        self.set_state(SourceState.FAILED, why)
        raise SourceError("source " + self.error)

    # -- Source API ------------------------------------------------------------------------------------------------
    def open(self):
        self.opened = True
        self.set_state(SourceState.CONNECTING)
        if self._connect():
            self.set_state(SourceState.STREAMING)
        else:
            self._recover("cannot connect")

    def read(self, buf=None):
        if not self.opened:
            self.open()
        while True:
            if self.stop_event is not None and self.stop_event.is_set():
                return None
            ok, img = (self.cap.read(buf) if buf is not None else self.cap.read()) if self.cap is not None else (False, None)
            if ok and img is not None:
                now = time.time()
                if self._t0 is None and self._network and now - self._connected_at > STALE_AFTER_S and \
                        not self._refreshed:
                    # connected long before this first read (a single camera connects before the model loads): the
                    # stream's frames since then are buffered and would come in a burst, old and with wall times
                    # squeezed together; a fresh connection starts from the current frame instead
                    self._refreshed = True
                    logger.info("source {}: connected {:.1f} s before its first read; connecting again for current "
                                "frames instead of the buffered ones", self.name, now - self._connected_at)
                    if self._connect():
                        continue
                    if not self._recover("cannot connect again"):
                        return None
                    continue
                if self._t0 is None:
                    self._t0 = now
                    self.height, self.width = img.shape[:2]
                self._attempts = 0
                self.frames_read += 1
                return img, now - self._t0
            if self.stop_event is not None and self.stop_event.is_set():
                return None
            if not self._recover("stream interrupted" if self.state == SourceState.STREAMING else "no frames"):
                return None

    def close(self):
        self._release()
        if self.state != SourceState.FAILED:
            self.set_state(SourceState.ENDED)


_FFMPEG = []


def _has_ffmpeg():
    # type: () -> bool
    """Whether this OpenCV build has the FFmpeg backend (True where the registry cannot tell)."""
    if not _FFMPEG:
        try:
            from cv2 import videoio_registry
            _FFMPEG.append(bool(videoio_registry.hasBackend(cv2.CAP_FFMPEG)))
        except (ImportError, AttributeError):
            _FFMPEG.append(True)
    return _FFMPEG[0]
