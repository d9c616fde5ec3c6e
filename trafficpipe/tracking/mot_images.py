"""A MOTChallenge sequence's frames as a pipeline source: each frame keeps its number in the sequence (the frame index
is its file's number less one), so a missing or unreadable image leaves a gap instead of shifting every later frame."""
import os

import cv2

from ..log import logger
from ..sources.base import SourceState
from ..sources.images import ImageSource
from .motdata import frame_file_name


class SequenceImages(ImageSource):
    """The images of frames 1..N of a sequence (`frames`: per frame its path, None where the file is missing, as
    `motdata.sequence_frames` gives them). `position` is the index of the frame last read (its number less one), which
    the feed takes as the frame's index; frames missing or unreadable are counted (`unreadable`) and named in
    `bad_frames` ([(number, why)]); the sequence then ends truncated."""

    def __init__(self, info, frames, name=None):
        super(SequenceImages, self).__init__(info.images, name=name, paths=[p for p in frames if p])
        self.info = info
        self.frames = list(frames)
        self.fps = float(info.fps)
        self.position = -1
        self.bad_frames = []  # type: list  # (frame number, "missing" or "unreadable")
        self._next = 0

    def open(self):
        super(SequenceImages, self).open()
        self.frame_count = len(self.frames)

    def read(self, buf=None):
        while self._next < len(self.frames):
            k = self._next
            self._next += 1
            path = self.frames[k]
            img = cv2.imread(path, cv2.IMREAD_COLOR) if path else None
            if img is None:
                self._bad(k + 1, path)
                continue
            if not self.width:
                self.height, self.width = img.shape[:2]
            self.current_path = path
            self.position = k
            self.frames_read += 1
            return img, k / self.fps
        self.set_state(SourceState.ENDED)
        return None

    def _bad(self, number, path):
        """Frame `number` (its image at `path`, None where missing) is skipped: counted, logged, and the source's
        `error` says so now (the feed stops reading at the last frame, before the end is seen)."""
        why = "unreadable" if path else "missing"
        self.bad_frames.append((number, why))
        self.skipped.append(path or os.path.join(self.info.root, frame_file_name(self.info, number)))
        self.unreadable += 1
        logger.warning("source {}: frame {} ({}) is {}; scored without detections", self.name, number,
                       self.skipped[-1], why)
        self.truncated = True
        self.error = "%d of %d frames %s: %s" % (len(self.bad_frames), len(self.frames), _what(self.bad_frames),
                                                 describe_bad_frames(self.bad_frames, self.skipped))


def _what(bad):
    kinds = set(w for _, w in bad)
    return "missing or unreadable" if len(kinds) > 1 else kinds.pop()


def describe_bad_frames(bad, paths, most=4):
    # type: (list, list, int) -> str
    """'frames 3 (000003.jpg unreadable), 9 (000009.jpg missing)' for [(number, why)] and their image paths, the first
    `most` of them."""
    parts = ["%d (%s %s)" % (n, os.path.basename(p), why) for (n, why), p in zip(bad[:most], paths)]
    return ("frame " if len(bad) == 1 else "frames ") + ", ".join(parts) + (", ..." if len(bad) > most else "")
