"""Frames a..b of a video file as a source: the unit a scoring run hands to one worker.

A segment starts on a keyframe (`segments.plan_chunks`), so its reader seeks there and decodes nothing twice; segments
planned from one file cover it exactly once. The pipeline numbers a source's frames from 0; `first` maps them back to
the file's frame numbers.
"""
import os

import cv2

from .base import Source, SourceState
from .video import check_video_file, not_a_video


class VideoSegmentSource(Source):
    """Frames [start, stop) of a video file, read by a `segments.ChunkReader` (decoding starts at keyframe `key`, at or
    before `start`; `start` when None). `stop` None reads to the end of the file. `pts` are the file's times
    (frame / fps). A segment that ends before `stop` is reported truncated, as a whole file would be."""

    live = False

    def __init__(self, uri, start, stop=None, key=None, name=None):
        super(VideoSegmentSource, self).__init__(uri, name)
        self.first = int(start)
        self.stop = None if stop is None else int(stop)
        self.key = key
        self.reader = None

    def open(self):
        from .segments import ChunkReader
        check_video_file(self.uri)
        self.reader = ChunkReader(self.uri, self.first, self.stop if self.stop is not None else 2 ** 31 - 1, self.key)
        cap = self.reader.cap
        if not cap.isOpened():
            self.reader.close()
            raise not_a_video(self.uri)
        self.fps = float(cap.get(cv2.CAP_PROP_FPS)) or 30.0
        if not (0 < self.fps < 1000):
            self.fps = 30.0
        self.width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.frame_count = (self.stop - self.first) if self.stop is not None else None
        self.state = SourceState.STREAMING  # (no log line per segment)

    def read(self, buf=None):
        img = self.reader.read(buf if buf is not None and buf.shape[:2] == (self.height, self.width) else None)
        if img is None:
            self._end()
            return None
        pts = (self.first + self.frames_read) / self.fps
        self.frames_read += 1
        return img, pts

    def _end(self):
        if self.frame_count is not None and self.frames_read < self.frame_count:
            self.truncated = True
            self.error = "decoded %d of frames %d-%d of %s" % (self.frames_read, self.first, self.stop - 1,
                                                              os.path.basename(self.uri))
        self.state = SourceState.ENDED

    def close(self):
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        if self.state == SourceState.STREAMING:
            self.state = SourceState.ENDED
