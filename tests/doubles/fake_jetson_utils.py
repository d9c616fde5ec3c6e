"""A double of jetson-inference's `jetson_utils` (no Jetson here): videoSource plays a real video file as an RGB camera.

Faithful to the parts trafficpipe uses: videoSource(uri, argv=...) with GetWidth/GetHeight/GetFrameRate/IsStreaming/
Capture(format='rgb8', timeout=ms)/Close, cudaToNumpy and cudaDeviceSynchronize; videoOutput('display://N') with
Render/SetStatus/IsStreaming/Close and cudaFromNumpy for the live view (`DISPLAY_FAILS` makes creating it fail as
jetson-utils does without a display; `close_display()` is the user closing the window). `TIMEOUT_EVERY` makes every Nth Capture
time out (None, as jetson-utils does since 2022; `RAISE_ON_TIMEOUT` raises as the JetPack 4.x releases did).
"""
import os
import time

import cv2

CLIP = None  # the video file every videoSource plays
TIMEOUT_EVERY = 0
RAISE_ON_TIMEOUT = False
opened = []
DISPLAY_FAILS = False
outputs = []


class cudaImage(object):
    def __init__(self, array):
        self.array = array
        self.height, self.width = array.shape[:2]
        self.format = "rgb8"


class videoSource(object):
    def __init__(self, uri, argv=None, options=None):
        if not uri.startswith(("csi://", "v4l2://", "/dev/video", "rtp://", "rtsp://", "file://")) and not os.path.isfile(uri):
            raise Exception("videoSource -- unsupported protocol (%s)" % uri)
        self.uri = uri
        self.cap = cv2.VideoCapture(CLIP)
        self.streaming = self.cap.isOpened()
        self.calls = 0
        self.live = not os.path.isfile(uri)  # cameras and streams deliver frames at their frame rate
        self.next_t = None
        opened.append(self)

    def GetWidth(self):
        return int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH))

    def GetHeight(self):
        return int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))

    def GetFrameRate(self):
        return float(self.cap.get(cv2.CAP_PROP_FPS))

    def IsStreaming(self):
        return self.streaming

    def Capture(self, format="rgb8", timeout=-1):
        assert format == "rgb8"
        self.calls += 1
        if TIMEOUT_EVERY and self.calls % TIMEOUT_EVERY == 0:
            if RAISE_ON_TIMEOUT:
                raise Exception("videoSource failed to capture image")
            return None
        if self.live:
            now = time.time()
            self.next_t = now if self.next_t is None else self.next_t + 1.0 / self.GetFrameRate()
            if self.next_t > now:
                time.sleep(self.next_t - now)
        ok, bgr = self.cap.read()
        if not ok:
            self.streaming = False
            if RAISE_ON_TIMEOUT:
                raise Exception("videoSource failed to capture image")
            return None
        return cudaImage(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))

    def Close(self):
        self.streaming = False
        self.cap.release()


def cudaToNumpy(image):
    return image.array


def cudaDeviceSynchronize():
    pass


class videoOutput(object):
    """The OpenGL window: keeps every rendered image; it streams from the first Render until closed."""

    def __init__(self, uri, argv=None, options=None):
        if DISPLAY_FAILS:
            raise Exception("videoOutput -- failed to create output stream")
        self.uri = uri
        self.rendered = []
        self.status = None
        self.streaming = False
        self.closed_by_user = False
        outputs.append(self)

    def Render(self, image):
        assert image.format == "rgb8"
        if not self.closed_by_user:
            self.streaming = True
            self.rendered.append(image.array)

    def SetStatus(self, text):
        self.status = text

    def IsStreaming(self):
        return self.streaming

    def Close(self):
        self.streaming = False


def close_display():
    """The user closes every window."""
    for out in outputs:
        out.closed_by_user = True
        out.streaming = False


def cudaFromNumpy(array, isBGR=False):
    assert not isBGR
    return cudaImage(array.copy())
