"""Image files, folders and globs: offline, one frame per image, in sorted order."""
import glob
import os

import cv2
import numpy as np

from ..errors import SourceError
from ..log import logger
from .base import Source, SourceState, number_repeats

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def is_image_path(path):
    # type: (str) -> bool
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def is_glob(spec):
    # type: (str) -> bool
    """Whether `spec` is a glob pattern: it holds *, ? or [ and names no existing file or folder (a file called
    `shot[2].jpg` is that file)."""
    return any(c in spec for c in "*?[") and not os.path.exists(spec)


def list_images(spec):
    # type: (str) -> list
    """The image files named by a file, a folder (recursively) or a glob, sorted."""
    if is_glob(spec):
        files = glob.glob(spec, recursive=True)
    elif os.path.isdir(spec):
        files = [os.path.join(d, f) for d, _, fs in os.walk(spec) for f in fs]
    else:
        files = [spec]
    return sorted(f for f in files if os.path.isfile(f) and is_image_path(f))


def image_stems(paths):
    # type: (list) -> dict
    """path -> the name its outputs take: the path relative to the images' common folder, without its extension
    (sub-folders kept: a/x.jpg and b/x.jpg stay apart); images that would still share one (x.jpg, x.png) keep their
    extension in it (x_jpg, x_png). Unique by construction, also on case-insensitive file systems."""
    if not paths:
        return {}
    absolute = [os.path.abspath(p) for p in paths]
    root = os.path.commonpath([os.path.dirname(p) for p in absolute])
    stems = [os.path.splitext(os.path.relpath(p, root))[0].replace(os.sep, "/") for p in absolute]
    counts = {}
    for st in stems:
        counts[st.lower()] = counts.get(st.lower(), 0) + 1
    stems = [st + "_" + os.path.splitext(p)[1][1:].lower() if counts[st.lower()] > 1 else st
             for st, p in zip(stems, paths)]
    return dict(zip(paths, number_repeats(stems)))


def read_image(path):
    # type: (str) -> tuple
    """(BGR image, None), or (None, why) for a file that does not decode whole: unreadable, not an image, or a JPEG
    cut short (OpenCV would give its missing part grey, libjpeg only printing "Premature end of JPEG file")."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (IOError, OSError) as e:
        return None, "cannot open it: %s" % (e.strerror or e)
    if jpeg_cut_short(data):
        return None, "the JPEG is cut short: damaged or truncated"
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    return (img, None) if img is not None else (None, "unreadable or not an image")


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"IEND\xaeB`\x82"  # the IEND chunk's type and (constant) CRC: the last chunk of a whole PNG


def image_problem(path):
    # type: (str) -> object
    """Why the image file `path` cannot be scored (empty, not an image, a JPEG or PNG cut short), or None. Cheap for
    JPEG and PNG (their bytes are read, not decoded); other formats are decoded."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (IOError, OSError) as e:
        return "cannot open it: %s" % (e.strerror or e)
    if not data:
        return "the file is empty"
    if data[:2] == b"\xff\xd8":
        return "the JPEG is cut short: damaged or truncated" if jpeg_cut_short(data) else None
    if data[:8] == PNG_SIGNATURE:
        return None if data.rfind(PNG_END) > 8 else "the PNG is cut short: damaged or truncated"
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return None if img is not None else "unreadable or not an image"


def first_image_size(paths, tries=5):
    # type: (list, int) -> tuple
    """(width, height) of the first readable image among the first `tries` of `paths`, or None."""
    for path in list(paths)[:tries]:
        img, _ = read_image(path)
        if img is not None:
            return img.shape[1], img.shape[0]
    return None


def jpeg_cut_short(data):
    # type: (bytes) -> bool
    """Whether JPEG `data` ends before its image does: no end-of-image marker (FF D9) after its last scan (FF DA; the
    entropy-coded data of a scan cannot hold FF D9, so the first one after it is the end). False for other formats."""
    if data[:2] != b"\xff\xd8":
        return False
    scan = data.rfind(b"\xff\xda")
    return scan < 0 or data.find(b"\xff\xd9", scan + 2) < 0


class ImageSource(Source):
    """A set of still images; each becomes one frame. `current_path` names the image last read, `position` its index
    in the set: frame numbers are image numbers. An image that cannot be read is skipped with a warning naming it
    (`skipped` lists them) and leaves a gap in the frame numbers, as a damaged stretch of a video does; the set then
    ends truncated (exit "partial")."""

    live = False
    position = -1

    def __init__(self, uri, name=None, paths=None):
        super(ImageSource, self).__init__(uri, name)
        self.paths = paths
        self.current_path = None
        self.skipped = []  # type: list  # images that could not be read
        self._stems = {}

    def output_stem(self, path):
        # type: (str) -> str
        """The name of `path`'s outputs within this set (`image_stems`)."""
        return self._stems.get(path) or os.path.splitext(os.path.basename(path))[0]

    def open(self):
        if self.paths is None:
            if not is_glob(self.uri) and not os.path.exists(self.uri):
                raise SourceError("source %s does not exist" % self.uri)
            self.paths = list_images(self.uri)
        if not self.paths:
            raise SourceError("no images found in %s" % self.uri)
        self.frame_count = len(self.paths)
        self._stems = image_stems(self.paths)
        self.set_state(SourceState.STREAMING)

    def frame_size(self):
        # type: () -> tuple
        """(width, height) of the set's frames: its first readable image's, before the run reads it."""
        if self.width and self.height:
            return self.width, self.height
        return first_image_size(self.paths or [])

    def read(self, buf=None):
        while self.frames_read + len(self.skipped) < len(self.paths):
            path = self.paths[self.frames_read + len(self.skipped)]
            img, why = read_image(path)
            if img is None:
                self._skip(path, why)
                continue
            if not self.width:
                self.height, self.width = img.shape[:2]
            self.current_path = path
            self.position = self.frames_read + len(self.skipped)
            self.frames_read += 1
            return img, float(self.position)
        self.set_state(SourceState.ENDED)
        return None

    def _skip(self, path, why):
        """Count an image that cannot be read: the set is then "partial" (exit 3), also when the run reads no more."""
        self.skipped.append(path)
        self.unreadable += 1
        logger.warning("source {}: cannot read image {} ({}); skipped", self.name, path, why)
        self.truncated = True
        self.error = "%d of %d images unreadable, skipped: %s" % (
            len(self.skipped), len(self.paths), ", ".join(self.skipped[:3]) + (", ..." if len(self.skipped) > 3
                                                                               else ""))

    def close(self):
        if self.state == SourceState.STREAMING:
            self.set_state(SourceState.ENDED)
