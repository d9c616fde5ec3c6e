"""Parallel decoding of one video file: split at keyframes into chunks that several readers decode at once.

One OpenCV reader decodes a 720p H.264 file at about 1000 fps on a server, which caps a pipeline whose inference is
faster. With `decode_workers` > 1 the capture stage gives each worker whole keyframe-aligned chunks (a reader opened on
a chunk seeks to its first frame, which is a keyframe, so nothing is decoded twice); the writer restores frame order.
Keyframes come from the MP4/MOV sample tables (`stss`); other containers are decoded by one reader.
"""
import os

import cv2

from ..log import logger
from .mp4_index import mp4_keyframes  # noqa: F401 - part of this module's interface
from .video import open_video





def plan_chunks(keyframes, n_frames, min_len=60):
    # type: (list, int, int) -> list
    """[(start, stop), ...] covering 0..n_frames, each starting on a keyframe and at least `min_len` long (but the last)."""
    starts = [0]
    for k in keyframes or []:
        if 0 < k < n_frames and k - starts[-1] >= min_len:
            starts.append(k)
    if len(starts) > 1 and n_frames - starts[-1] < min_len // 2:
        starts.pop()
    return [(a, b) for a, b in zip(starts, starts[1:] + [n_frames])]


def split_chunks(chunks, workers, min_len=60, share=0.6):
    # type: (list, int, int, float) -> list
    """[(start, stop, key), ...]: `chunks` with the longest split until there are `workers` (none shorter than
    `min_len`), for files with fewer keyframe-aligned chunks than decoders (a long GOP; this repo's 720p clip has
    keyframes at 0 and 250 only, so two decoders took 250 and 200 frames and the first set the pace).

    A piece that starts inside a keyframe group is read by decoding from its keyframe `key` and converting nothing
    until `start` (`ChunkReader`): those frames cost their decoding only, not the colour conversion, resize and hand
    over of a delivered frame, so the first piece takes `share` of the group."""
    out = [(a, b, a) for a, b in chunks]
    while len(out) < workers:
        i = max(range(len(out)), key=lambda j: out[j][1] - out[j][0])
        a, b, key = out[i]
        if b - a < 2 * min_len:
            break
        mid = a + max(min_len, int((b - a) * share))
        out[i:i + 1] = [(a, mid, key), (mid, b, key)]
    return out


class ChunkReader(object):
    """Decodes frames [start, stop) of a video file with its own OpenCV reader. `key` (a keyframe at or before
    `start`; `start` itself when None): decoding starts there and the frames before `start` are decoded only (grab,
    no conversion)."""

    def __init__(self, path, start, stop, key=None):
        self.path, self.start, self.stop = path, start, stop
        key = start if key is None else key
        self.cap = open_video(path)
        self.next = start
        if key and self.cap.isOpened():
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, key)
            pos = int(self.cap.get(cv2.CAP_PROP_POS_FRAMES))
            if pos != key:  # not exact, or the file ends before `key` (a cut file): decode forward from where it is
                logger.debug("seek to frame {} of {} landed on {}", key, os.path.basename(path), pos)
                if pos > key:  # past the chunk's first frame: its frames are reported unreadable by the caller
                    self.stop = start
                    return
                key = pos
        for _ in range(key, start):
            if not self.cap.grab():  # cannot reach the chunk: its frames are reported unreadable by the caller
                self.stop = start
                break

    def read(self, buf=None):
        """The next image of the chunk (decoded into `buf` when given), or None at its end or where decoding stops."""
        if self.next >= self.stop:
            return None
        ok, img = self.cap.read(buf) if buf is not None else self.cap.read()
        if not ok or img is None:
            return None
        self.next += 1
        return img

    def close(self):
        self.cap.release()
