"""jetson_utils.videoSource (jetson-inference), used where that module is importable: CSI cameras, V4L2, RTP, RTSP."""
from ..errors import SourceError
from ..redact import redact
from .base import Source, SourceState


def jetson_utils_available():
    # type: () -> bool
    try:
        import jetson_utils  # noqa: F401
    except ImportError:
        return False
    return True


class JetsonSource(Source):
    """Captures through jetson_utils.videoSource and hands BGR numpy frames to the pipeline."""

    def __init__(self, uri, name=None, live=True):
        super(JetsonSource, self).__init__(uri, name)
        self.live = live
        self._src = None

    def open(self):
        try:
            import jetson_utils
        except ImportError:
            raise SourceError("jetson_utils is not available (it comes with jetson-inference on a Jetson)")
        self._ju = jetson_utils
        try:
            self._src = jetson_utils.videoSource(self.uri)
        except Exception as e:
            raise SourceError(redact("cannot open %s with jetson_utils: %s" % (self.uri, e)))
        self.width, self.height = self._src.GetWidth(), self._src.GetHeight()
        self.fps = float(self._src.GetFrameRate() or 30.0)
        self.set_state(SourceState.STREAMING)

    def _capture(self):
        """One image or None (timeout). jetson-utils of JetPack 4.x raise on a timeout instead of returning None."""
        try:
            return self._src.Capture(format="rgb8", timeout=1000)
        except TypeError:  # releases without the keyword arguments
            return self._src.Capture()
        except Exception:
            return None

    def read(self, buf=None):
        import cv2
        ju = self._ju
        img = None
        while img is None:
            if self.stop_event is not None and self.stop_event.is_set():
                return None
            if not self._src.IsStreaming():
                self.set_state(SourceState.ENDED)
                return None
            img = self._capture()
        ju.cudaDeviceSynchronize()
        rgb = ju.cudaToNumpy(img)
        self.frames_read += 1
        # the copy made by cvtColor also frees the capture ring's buffer for the next frame
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), (self.frames_read - 1) / (self.fps or 30.0)

    def close(self):
        if self._src is not None:
            self._src.Close()
            self._src = None
