"""Sources for the child process of `RingProcessSource` in the CPU tests (spawned children import them by name):
OpenCV's reader of a real video, decoding into the ring's shared CPU tensors, and two that fail."""
import os

from trafficpipe.errors import SourceError
from trafficpipe.sources.video import VideoFileSource


class OpenCvIntoTensor(object):
    """VideoFileSource whose `read(buf)` writes the BGR frame into `buf`, a uint8 torch tensor [H, W, 3]."""

    def __init__(self, uri, device, die_after=None):
        self.src = VideoFileSource(uri)
        self.die_after = die_after

    def __getattr__(self, name):  # fps, width, height, frame_count, truncated, error
        return getattr(self.src, name)

    def open(self):
        self.src.open()

    def read(self, buf):
        if self.die_after is not None and self.src.frames_read >= self.die_after:
            os._exit(3)  # a decoder that crashes: no message, no clean-up
        got = self.src.read()
        if got is None:
            return None
        buf.numpy()[...] = got[0]
        return buf, got[1]

    def close(self):
        self.src.close()


def opencv_into_tensor(uri, device):
    return OpenCvIntoTensor(uri, device)


def dies_after_five(uri, device):
    return OpenCvIntoTensor(uri, device, die_after=5)


class _FailsToOpen(OpenCvIntoTensor):
    def open(self):
        raise SourceError("cannot decode %s: the test decoder refuses it" % os.path.basename(self.src.uri))


def fails_to_open(uri, device):
    return _FailsToOpen(uri, device)
