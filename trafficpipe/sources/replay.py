"""A video file replayed as a live camera (`replay://FILE`): frames at the file's own rate, looping, late frames lost.

A camera delivers a frame every 1/fps seconds whether or not anyone reads it. This source does the same with a file:
frame k is due at start + phase + k/fps; `read()` waits until it is due and stamps it with that time
(`captured_at`), so capture -> output latency counts from when the camera would have produced it. When the reader
falls a frame period or more behind, the frames due meanwhile are counted in `late` (reported as dropped, like
frames the pipeline's drop-oldest queues evict) and the frame read is stamped as the newest one due. At the end of the file it starts again
from the beginning; the run ends at `--max-frames` or when stopped. Read with OpenCV (the `--decode-threads` setting
applies).
"""
import time

import cv2

from ..errors import SourceError
from .base import Source, SourceState, source_name
from .video import check_video_file, not_a_video, open_video

SCHEME = "replay://"


def replay_path(uri):
    # type: (str) -> str
    """The file of a replay:// URI."""
    return uri[len(SCHEME):]


class ReplaySource(Source):
    """A file played at its native rate, looping, as a live source (drop-oldest queues, frames due on the clock).

    `phase` (a fraction of a frame period) shifts this camera's frame instants, so that several replayed cameras do
    not all deliver at the same moment; `clock` is the time source (time.perf_counter, the pipeline's clock).
    """

    live = True

    def __init__(self, uri, name=None, phase=0.0, clock=time.perf_counter):
        path = replay_path(uri) if uri.startswith(SCHEME) else uri
        super(ReplaySource, self).__init__(uri, name or source_name(path))
        self.path = path
        self.phase = float(phase) % 1.0
        self.clock = clock
        self.cap = None
        self.loops = 0  # times the file was started again
        self._start = None  # clock time frame 0 was due
        self._k = 0  # the next frame's number since the start (skipped ones included)

    def open(self):
        check_video_file(self.path)
        self._reopen()
        fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0)
        self.fps = fps if 0 < fps < 1000 else 30.0
        self.width = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.set_state(SourceState.STREAMING)

    def _reopen(self):
        if self.cap is not None:
            self.cap.release()
        self.cap = open_video(self.path)
        if not self.cap.isOpened():
            self.cap.release()
            self.cap = None
            raise not_a_video(self.path)

    def _decode(self, buf):
        """The file's next frame, starting the file again at its end."""
        ok, img = self.cap.read(buf) if buf is not None else self.cap.read()
        if ok and img is not None:
            return img
        self._reopen()
        self.loops += 1
        ok, img = self.cap.read(buf) if buf is not None else self.cap.read()
        if not ok or img is None:
            raise SourceError("source %s: no frame could be decoded from %s" % (self.name, self.path))
        return img

    def read(self, buf=None):
        if self.cap is None:
            self.open()
        period = 1.0 / self.fps
        if self.stop_event is not None and self.stop_event.is_set():
            return None
        img = self._decode(buf)
        now = self.clock()
        if self._start is None:
            self._start = now + self.phase * period
        k = self._k
        late = int((now - (self._start + k * period)) / period)
        if late > 0:  # the camera has moved on: the frames due meanwhile are lost, this one is its newest
            self.late += late
            k += late
        self._k = k + 1
        due = self._start + k * period
        if due > now and self.sleep(due - now):
            return None
        self.captured_at = due
        self.frames_read += 1
        return img, k * period

    def close(self):
        if self.cap is not None:
            self.cap.release()
            self.cap = None
        if self.state == SourceState.STREAMING:
            self.set_state(SourceState.ENDED)

    def describe(self):
        d = super(ReplaySource, self).describe()
        d["loops"] = self.loops
        return d
