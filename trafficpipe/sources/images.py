"""Image files, folders and globs: offline, one frame per image, in sorted order."""
import glob
import os

import cv2

from ..errors import SourceError
from .base import Source, SourceState

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def is_image_path(path):
    # type: (str) -> bool
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def list_images(spec):
    # type: (str) -> list
    """The image files named by a file, a folder (recursively) or a glob, sorted."""
    if any(c in spec for c in "*?["):
        files = glob.glob(spec, recursive=True)
    elif os.path.isdir(spec):
        files = [os.path.join(d, f) for d, _, fs in os.walk(spec) for f in fs]
    else:
        files = [spec]
    return sorted(f for f in files if os.path.isfile(f) and is_image_path(f))


class ImageSource(Source):
    """A set of still images; each becomes one frame. `current_path` names the image last read."""

    live = False

    def __init__(self, uri, name=None, paths=None):
        super(ImageSource, self).__init__(uri, name)
        self.paths = paths
        self.current_path = None

    def open(self):
        if self.paths is None:
            if not any(c in self.uri for c in "*?[") and not os.path.exists(self.uri):
                raise SourceError("source %s does not exist" % self.uri)
            self.paths = list_images(self.uri)
        if not self.paths:
            raise SourceError("no images found in %s" % self.uri)
        self.frame_count = len(self.paths)
        self.set_state(SourceState.STREAMING)

    def read(self, buf=None):
        if self.frames_read >= len(self.paths):
            self.set_state(SourceState.ENDED)
            return None
        path = self.paths[self.frames_read]
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise SourceError("cannot read image %s (unreadable or not an image)" % path)
        if not self.width:
            self.height, self.width = img.shape[:2]
        self.current_path = path
        self.frames_read += 1
        return img, float(self.frames_read - 1)

    def close(self):
        if self.state == SourceState.STREAMING:
            self.set_state(SourceState.ENDED)
