"""Live sources through OpenCV: cameras, rtsp/http streams, GStreamer pipelines; reconnect with exponential backoff."""
import time

import cv2

from ..errors import SourceError
from ..log import logger
from .base import Source, SourceState


class LiveSource(Source):
    """A camera or stream. States: connecting -> streaming -> reconnecting -> streaming ... -> ended | failed.

    A failed open or read is retried `retries` times with delays `retry_delay * 2**k` (capped at `max_delay`);
    after that the source fails with a SourceError. `backend` is an OpenCV capture API (cv2.CAP_*), or None.
    """

    live = True

    def __init__(self, uri, name=None, target=None, backend=None, retries=5, retry_delay=0.5, max_delay=8.0):
        super(LiveSource, self).__init__(uri, name)
        self.target = uri if target is None else target
        self.backend = backend
        self.retries = int(retries)
        self.retry_delay = float(retry_delay)
        self.max_delay = float(max_delay)
        self.cap = None
        self._t0 = None

    def _connect(self):
        # type: () -> bool
        if self.cap is not None:
            self.cap.release()
        self.cap = cv2.VideoCapture(self.target) if self.backend is None else cv2.VideoCapture(self.target, self.backend)
        if not self.cap.isOpened():
            return False
        fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0)
        self.fps = fps if 0 < fps < 1000 else (self.fps or 30.0)
        return True

    def _retry(self, why):
        # type: (str) -> None
        """Reconnect with backoff; raises SourceError when the attempts are spent."""
        first = self.state == SourceState.CONNECTING
        if not first:
            self.set_state(SourceState.RECONNECTING, why)
        for attempt in range(self.retries):
            delay = min(self.max_delay, self.retry_delay * (2 ** attempt))
            logger.info("source {}: retry {}/{} in {:.1f}s", self.name, attempt + 1, self.retries, delay)
            if self.sleep(delay):
                raise SourceError("source %s: stopped while reconnecting" % self.name)
            if self._connect():
                if not first:
                    self.reconnects += 1
                self.set_state(SourceState.STREAMING)
                return
        self.set_state(SourceState.FAILED, why)
        self.error = "%s: %s after %d retries" % (self.uri, why, self.retries)
        raise SourceError("source " + self.error)

    def open(self):
        self.set_state(SourceState.CONNECTING)
        if self._connect():
            self.set_state(SourceState.STREAMING)
        else:
            self._retry("cannot connect")

    def read(self):
        while True:
            ok, img = self.cap.read() if self.cap is not None else (False, None)
            if ok and img is not None:
                now = time.time()
                if self._t0 is None:
                    self._t0 = now
                    self.height, self.width = img.shape[:2]
                self.frames_read += 1
                return img, now - self._t0
            if self.stop_event is not None and self.stop_event.is_set():
                return None
            self._retry("stream interrupted")

    def close(self):
        if self.cap is not None:
            self.cap.release()
            self.cap = None
        if self.state not in (SourceState.FAILED,):
            self.set_state(SourceState.ENDED)
