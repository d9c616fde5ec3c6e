"""A double of jetson-inference's `jetson_utils` (no Jetson here): videoSource plays a real video file as an RGB camera.

Faithful to the parts trafficpipe uses: videoSource(uri, argv=...) with GetWidth/GetHeight/GetFrameRate/IsStreaming/
Capture(format='rgb8', timeout=ms)/Close, cudaToNumpy and cudaDeviceSynchronize. `TIMEOUT_EVERY` makes every Nth Capture
time out (None, as jetson-utils does since 2022; `RAISE_ON_TIMEOUT` raises as the JetPack 4.x releases did).
"""
import os
import time

import cv2

CLIP = None  # the video file every videoSource plays
TIMEOUT_EVERY = 0
RAISE_ON_TIMEOUT = False
opened = []


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
