"""Video files read with OpenCV: offline, every frame, truncation detected."""
import os

import cv2

from ..cpu import cores_available
from ..errors import SourceError
from ..log import logger
from .base import Source, SourceState
from .mp4_index import mp4_keyframes


AUTO = -1
_decode_threads = [0]


def set_decode_threads(n):
    # type: (int) -> None
    """FFmpeg decoder threads for every video file opened from now on: N, 0 = FFmpeg's own choice (about one per
    core), -1 = auto (see `decode_threads`)."""
    _decode_threads[0] = int(n)


def decode_threads():
    # type: () -> int
    """The decoder thread count in force (0 = FFmpeg's choice, the default). Auto (-1): half the cores on machines of
    12 cores or more, else FFmpeg's choice. On a 16-core H200 host 8 threads decoded 1696 vs 1553 fps alone and ran
    one source's pipeline 5-15% faster in paired runs, but 4 sources at once ran 1211 vs 1428-1442 fps (other
    machines of the same kind), so it is not the default."""
    n = _decode_threads[0]
    if n >= 0:
        return n
    cores = int(cores_available())
    return cores // 2 if cores >= 12 else 0


DECODERS = ("opencv", "nvdec")
_decoder = ["opencv", 0]


def set_decoder(name, device=0):
    # type: (str, int) -> None
    """The decoder of every video file opened from now on: "opencv" (FFmpeg on the CPU, the default) or "nvdec" (the
    GPU's hardware decoder, frames kept on GPU `device`: `sources/nvdec.py`). Cameras and streams keep OpenCV."""
    if name not in DECODERS:
        raise ValueError("unknown decoder %s; choose from %s" % (name, ", ".join(DECODERS)))
    _decoder[0], _decoder[1] = name, int(device)


def decoder():
    # type: () -> tuple
    """(decoder name, GPU index) in force for video files."""
    return _decoder[0], _decoder[1]


def decoding_settings():
    # type: () -> tuple
    """The decoding settings in force, to hand to a spawned process (`apply_decoding_settings`)."""
    return decode_threads(), decoder()


def apply_decoding_settings(settings):
    # type: (tuple) -> None
    """Put `decoding_settings()` of another process in force here."""
    set_decode_threads(settings[0])
    set_decoder(*settings[1])


def open_video(path):
    # type: (str) -> cv2.VideoCapture
    """An OpenCV reader of a video file, with the decoder thread count of `decode_threads` where one is set."""
    n = decode_threads()
    if n and hasattr(cv2, "CAP_PROP_N_THREADS"):
        return cv2.VideoCapture(path, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, n])
    return cv2.VideoCapture(path)


def container_size(path):
    # type: (str) -> tuple
    """(width, height) of a video file read from its container without decoding, or None where unknown."""
    cap = cv2.VideoCapture(path)
    try:
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()
    return (w, h) if w > 0 and h > 0 else None


def check_video_file(uri):
    # type: (str) -> None
    """SourceError (one line) unless `uri` is an existing, readable file."""
    if not os.path.exists(uri):
        raise SourceError("source %s does not exist" % uri)
    if not os.path.isfile(uri) or not os.access(uri, os.R_OK):
        raise SourceError("source %s is not a readable file" % uri)


def not_a_video(uri):
    # type: (str) -> SourceError
    return SourceError("cannot decode %s: not a video, or an unsupported or corrupt one" % uri)


class VideoFileSource(Source):
    """A video file. Decodes every frame; where a stretch does not decode (damage mid-file), reading goes on from the
    next keyframe after it (MP4/MOV) and the stretch is counted (`unreadable`, `skipped`); a file that ends before its
    announced frame count is reported truncated. `position` is the file index of the frame last read."""

    live = False
    position = -1
    _keys = None

    def open(self):
        check_video_file(self.uri)
        self.cap = open_video(self.uri)
        ok, first = (self.cap.read() if self.cap.isOpened() else (False, None))
        if not ok or first is None:
            self.cap.release()
            raise not_a_video(self.uri)
        self._first = first
        self.skipped = []  # type: list  # (first, end) of each stretch that did not decode
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS)) or 30.0
        if not (0 < self.fps < 1000):
            self.fps = 30.0
        self.height, self.width = first.shape[:2]
        n = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = n if n > 0 else None
        self.set_state(SourceState.STREAMING)

    def first_frame(self):
        """The frame `open()` decoded to learn the size, while no `read()` has taken it yet (else None)."""
        return getattr(self, "_first", None)

    def read(self, buf=None):
        if self._first is not None:
            img, self._first = self._first, None
        else:
            ok, img = self.cap.read(buf) if buf is not None else self.cap.read()
            if not ok or img is None:
                img = self._skip_damage()
                if img is None:
                    self._end()
                    return None
        self.position += 1
        self.frames_read += 1
        return img, self.position / self.fps

    def _skip_damage(self):
        """After a frame that does not decode before the announced end: reopen the file at the next keyframe past it
        whose frame decodes (as the parallel decoders' chunks start, sources/segments.py) and go on from there; the
        frames in between are counted unreadable. None when no later keyframe decodes (or the frame count or the
        keyframes are unknown)."""
        bad = self.position + 1
        if not self.frame_count or bad >= self.frame_count - 1:
            return None
        if self._keys is None:
            self._keys = mp4_keyframes(self.uri) or []
        for key in [k for k in self._keys if k > bad]:
            self.cap.release()
            self.cap = open_video(self.uri)
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, key)
            if int(self.cap.get(cv2.CAP_PROP_POS_FRAMES)) != key:  # landed elsewhere: the file ends before it
                continue
            ok, img = self.cap.read()
            if ok and img is not None:
                self.skipped.append((bad, key))
                self.unreadable += key - bad
                logger.warning("source {}: frames {} to {} of {} are unreadable; going on from frame {}", self.name,
                               bad, key - 1, os.path.basename(self.uri), key)
                self.position = key - 1
                return img
        return None

    def _end(self):
        last = self.position + 1
        if self.frame_count and last < self.frame_count - 1:
            self.skipped.append((last, self.frame_count))
            self.unreadable += self.frame_count - last
        if self.skipped:
            self.truncated = True
            self.error = "%d of %d frames decoded; unreadable: %s (%s)" % (
                self.frames_read, self.frame_count or self.frames_read + self.unreadable,
                ", ".join("frames %d-%d" % (a, b - 1) for a, b in self.skipped), os.path.basename(self.uri))
            logger.warning("source {}: {}", self.name, self.error)
        self.set_state(SourceState.ENDED)

    def close(self):
        cap = getattr(self, "cap", None)
        if cap is not None:
            cap.release()
            self.cap = None
        if self.state == SourceState.STREAMING:
            self.set_state(SourceState.ENDED)
