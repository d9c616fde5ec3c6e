"""On-screen windows for the live view: jetson_utils' display (Jetson) or OpenCV's HighGUI, and the check that one can
open here. A window's methods are called from one thread only (the live view's)."""
import os
import re
import subprocess
import sys
import time

import cv2

from ..errors import SinkError

#: keys that end the run from an OpenCV window: q, Q, Esc
QUIT_KEYS = (ord("q"), ord("Q"), 27)

#: a child process opens and closes a window: where HighGUI cannot (no X server, refused), Qt aborts the process
_PROBE = ("import cv2; cv2.namedWindow('trafficpipe'); cv2.waitKey(1); cv2.destroyAllWindows(); cv2.waitKey(1)")


def jetson_display_available():
    # type: () -> bool
    try:
        import jetson_utils  # noqa: F401
    except ImportError:
        return False
    return hasattr(jetson_utils, "videoOutput")


def highgui_backend():
    # type: () -> str
    """The GUI toolkit OpenCV was built with (e.g. QT5, GTK3), or "" for none (opencv-python-headless)."""
    m = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.M)
    gui = m.group(1) if m else ""
    return "" if gui.upper() == "NONE" else gui


def check_display(backend):
    # type: (str) -> None
    """SinkError (one line) unless a window of `backend` ("jetson" or "opencv") can open on this machine's display."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise SinkError("the live view needs a display, and $DISPLAY is not set (run on the desktop, over ssh -X, "
                        "or under xvfb-run)")
    if backend == "jetson":
        return  # jetson_utils reports its own failure when the window is created (at start too)
    if not highgui_backend():
        raise SinkError("the live view needs OpenCV with HighGUI, and this OpenCV %s has none "
                        "(opencv-python-headless?): install opencv-python" % cv2.__version__)
    try:
        p = subprocess.run([sys.executable, "-c", _PROBE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise SinkError("the live view cannot open a window on display %s: no answer in 30 s"
                        % os.environ.get("DISPLAY", ""))
    if p.returncode != 0:
        lines = [l.strip() for l in p.stderr.splitlines() if l.strip()]
        raise SinkError("the live view cannot open a window on display %s%s" % (
            os.environ.get("DISPLAY", ""), (": " + lines[0]) if lines else ""))


class OpenCVWindow(object):
    """A resizable OpenCV HighGUI window. `poll()` runs the GUI's events for a few milliseconds and says whether the
    user pressed q or Esc, or closed the window."""

    def __init__(self, title, size):
        self.title = title
        self.shown = False
        flags = cv2.WINDOW_NORMAL | getattr(cv2, "WINDOW_KEEPRATIO", 0) | getattr(cv2, "WINDOW_GUI_NORMAL", 0)
        cv2.namedWindow(title, flags)
        cv2.resizeWindow(title, int(size[0]), int(size[1]))

    def show(self, canvas):
        cv2.imshow(self.title, canvas)
        self.shown = True

    def poll(self, ms=10):
        # type: (int) -> bool
        """True when the user asked to quit (q, Esc, window closed)."""
        key = cv2.waitKey(ms)
        if key != -1 and (key & 0xFF) in QUIT_KEYS:
            return True
        if not self.shown:
            return False
        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:  # Qt: the window was destroyed when the user closed it
            return True

    def close(self):
        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except cv2.error:  # already closed by the user
            pass


class JetsonWindow(object):
    """jetson_utils.videoOutput('display://N') (jetson-inference's OpenGL window); closing it ends the run."""

    def __init__(self, uri, title):
        import jetson_utils
        self.ju = jetson_utils
        self.title = title
        self.shown = False
        try:
            self.out = jetson_utils.videoOutput(uri)
        except Exception as e:  # jetson_utils raises a bare Exception
            raise SinkError("the live view cannot open %s: %s" % (uri, str(e).strip().splitlines()[0] if str(e).strip()
                                                                 else type(e).__name__))

    def show(self, canvas):
        rgb = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)
        self.out.Render(self.ju.cudaFromNumpy(rgb))
        self.out.SetStatus(self.title)
        self.shown = True

    def poll(self, ms=10):
        # type: (int) -> bool
        time.sleep(ms / 1000.0)
        return self.shown and not self.out.IsStreaming()

    def close(self):
        self.out.Close()


def open_window(backend, uri, title, size):
    """A window of `backend` ("jetson" or "opencv") for the display `uri`, `size` (width, height) at first."""
    if backend == "jetson":
        return JetsonWindow(uri, title)
    return OpenCVWindow(title, size)
