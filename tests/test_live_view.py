"""The live view (`--show`, display://N): its mosaic and rate, jetson_utils' window (a double), and for real in an
OpenCV window on a virtual X display (Xvfb): a screenshot shows the frame with its boxes and the fps text, q and closing
the window stop the run with every output valid, and without a display the run fails at start in one line."""
import json
import os
import re
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from cli_helpers import ROOT, read_frames
from trafficpipe.draw import COLORS
from trafficpipe.errors import SinkError
from trafficpipe.sinks.display import DisplayConfig, LiveView
from trafficpipe.sinks.mosaic import Layout, RateMeter, draw_label
from trafficpipe.sources.factory import open_source


# ---- the picture and its parts ----

def test_mosaic_of_three_sources_keeps_each_frame_and_labels_it(video_720p):
    frame = read_frames(video_720p, 1)[0]
    lay = Layout(3, (1280, 720))
    assert (lay.cols, lay.rows, lay.tile, lay.size) == (2, 2, (640, 360), (1280, 720))
    tile = lay.fit(frame)
    assert tile.shape == (360, 640, 3)
    assert np.array_equal(tile, cv2.resize(frame, (640, 360), interpolation=cv2.INTER_AREA))
    canvas = lay.compose([tile, None, tile], ["a  25.0 fps", "b  0.0 fps", "c  12.5 fps"], footer="total 37.5 fps")
    assert canvas.shape == (720, 1280, 3)
    # tile 2 sits at (0, 360), untouched between its label and the footer; tile 1 (no frame yet) is black
    assert np.array_equal(canvas[420:680, 0:640], tile[60:320])
    assert not np.array_equal(canvas[680:720, 0:640], tile[320:360])
    assert not canvas[60:360, 640:1280].any()
    label = draw_label(np.zeros((60, 400, 3), np.uint8), "a  25.0 fps", (6, 6))
    assert np.array_equal(canvas[0:60, 0:400][label.any(2)], label[label.any(2)])
    # a frame larger than the window is scaled down; a smaller one is left at its size, centred in its tile
    assert Layout(1, (1920, 1080)).size == (1280, 720)
    small = Layout(1, (640, 360))
    assert small.size == (640, 360) and np.array_equal(small.fit(tile), tile)


def test_rate_meter_measures_the_recent_rate():
    meter = RateMeter(window=1.0)
    rates = [meter.tick(i / 25.0) for i in range(100)]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(25.0)
    rates = [meter.tick(4.0 + i / 10.0) for i in range(1, 31)]  # slower now: the old rate is forgotten in a second
    assert rates[-1] == pytest.approx(10.0)


@pytest.mark.parametrize("uri, message", [
    ("display://", "bad display URI"), ("display://x", "bad display URI"), ("display://0/a", "bad display URI"),
    ("display://0?fps=1", "unknown option fps"), ("display://0?size=big", "bad size"),
    ("display://0?backend=gtk", "bad backend"), ("display://0?backend=jetson", "needs jetson_utils")])
def test_bad_display_uris_are_one_clear_error(uri, message):
    with pytest.raises(SinkError, match=message):
        DisplayConfig(uri)


def test_display_uri_options():
    c = DisplayConfig("display://0?hold=1&size=1920x1080&backend=opencv")
    assert (c.uri, c.hold, c.max_size, c.backend) == ("display://0", True, (1920, 1080), "opencv")
    assert DisplayConfig("display://1").hold is False


def test_frames_faster_than_the_screen_are_copied_only_once_it_has_shown_the_last(video_360p):
    src = open_source(video_360p)
    try:
        view = LiveView(DisplayConfig("display://0?backend=opencv"), [src])  # not started: no window needed
        a, b = read_frames(video_360p, 2)
        view.post(0, a, 30.0)
        view.post(0, b, 1000.0)  # at once: the screen has not taken `a` yet
        tiles, labels, footer = view.take()
        assert np.array_equal(tiles[0], a) and labels == ["highway-360p  30.0 fps"] and footer is None
        assert view.take() is None  # nothing new
        view.post(0, b, 1000.0)  # the screen took the last one: this one is kept
        view.post(0, a, 50.0)  # below 60 fps: every frame is kept, though `b` is not on screen yet
        tiles, labels, _ = view.take()
        assert np.array_equal(tiles[0], a) and labels == ["highway-360p  50.0 fps"]
        view.source_ended(0)
        assert view.take()[1] == ["highway-360p  50.0 fps  (ended)"]
    finally:
        src.close()


# ---- jetson_utils' window (a double of jetson-utils: no Jetson here) ----

@pytest.fixture
def jetson(monkeypatch):
    from doubles import fake_jetson_utils as ju
    monkeypatch.setitem(sys.modules, "jetson_utils", ju)
    monkeypatch.setattr(ju, "outputs", [])
    monkeypatch.setattr(ju, "DISPLAY_FAILS", False)
    monkeypatch.setenv("DISPLAY", ":0")  # the double opens no X connection
    return ju


def wait_for(cond, what, timeout=20.0, state=None):
    """Polls `cond` until it holds; past `timeout` fails, with `state()` (what the run was doing) where given."""
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout:
            pytest.fail("timed out after %.0f s waiting for %s%s" % (timeout, what, "; " + state() if state else ""))
        time.sleep(0.02)


def test_jetson_display_shows_a_mosaic_and_closing_it_stops_the_run(jetson, video_360p, video_720p):
    sources = [open_source(video_720p), open_source(video_360p)]
    try:
        config = DisplayConfig("display://0")
        assert config.backend == "jetson"  # jetson_utils is importable: its window is the default
        stopped = []
        view = LiveView(config, sources).start()
        view.bind(lambda: stopped.append(1))
        out = jetson.outputs[0]
        assert out.uri == "display://0"
        a, b = read_frames(video_720p, 1)[0], read_frames(video_360p, 1)[0]
        sink_a, sink_b = view.sinks[0][0], view.sinks[1][0]
        assert sink_a.needs_image  # the pipeline draws the boxes on the frames it hands to the view

        class F(object):
            def __init__(self, image):
                self.image = image
        sink_a.write(F(a))
        sink_b.write(F(b))
        wait_for(lambda: out.rendered and out.rendered[-1][:, 640:].any(), "both tiles on the display")
        rgb = out.rendered[-1]
        assert rgb.shape == (360, 1280, 3)  # two 16:9 tiles side by side in a 1280-wide window
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        assert np.array_equal(bgr[60:320, 0:640], view.layout.fit(a)[60:320])  # below the label, above the footer
        assert np.array_equal(bgr[60:, 640:], view.layout.fit(b)[60:])
        assert not stopped
        jetson.close_display()  # the user closes the window
        wait_for(lambda: stopped, "the run to be stopped")
        assert view.quit_by_user
        view.close()
    finally:
        for s in sources:
            s.close()


def test_jetson_display_that_cannot_open_fails_at_start(jetson, video_360p):
    jetson.DISPLAY_FAILS = True
    src = open_source(video_360p)
    try:
        with pytest.raises(SinkError, match="cannot open display://0: videoOutput -- failed to create output stream"):
            LiveView(DisplayConfig("display://0"), [src]).start()
    finally:
        src.close()


# ---- for real: an OpenCV window on a virtual X display ----

def run_detect(*args, **kw):
    env = dict(os.environ, **kw.pop("env", {}))
    for k in kw.pop("unset", ()):
        env.pop(k, None)
    return subprocess.run([sys.executable, "-m", "trafficpipe", "detect"] + [str(a) for a in args], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env, timeout=120)


def one_error_line(p):
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("trafficpipe: error:"), p.stderr
    return lines[0]


def test_show_without_a_display_fails_at_start_in_one_line(video_720p, tmp_path):
    t0 = time.time()
    p = run_detect(video_720p, "--out", tmp_path / "a", "--show", unset=("DISPLAY", "WAYLAND_DISPLAY"))
    assert p.returncode == 2
    assert "needs a display, and $DISPLAY is not set" in one_error_line(p)
    # a display that is not there (no X server on :987): the probe's own reason, in one line
    p = run_detect(video_720p, "--out", tmp_path / "b", "--save", "jsonl,display://0", env={"DISPLAY": ":987"})
    assert p.returncode == 2
    assert "cannot open a window on display :987" in one_error_line(p)
    assert time.time() - t0 < 60
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # nothing was opened or written


@pytest.fixture(scope="module")
def xdisplay():
    """A virtual X display (Xvfb, 1600x900) on a free display number, stopped at the end whatever happens."""
    for tool in ("Xvfb", "xdotool"):
        if subprocess.call(["sh", "-c", "command -v %s" % tool], stdout=subprocess.DEVNULL) != 0:
            pytest.fail("%s is needed for the live-view tests (Debian: apt-get install xvfb xdotool; tests/run.sh "
                        "installs them)" % tool)
    r, w = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1600x900x24", "-nolisten", "tcp"],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    try:
        number = b""
        while not number.endswith(b"\n"):  # Xvfb writes the number, then the newline: it ends if it cannot
            chunk = os.read(r, 32)
            if not chunk:
                break
            number += chunk
        os.close(r)
        number = number.decode().strip()
        if not number:
            pytest.fail("Xvfb did not start")
        yield ":" + number
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Run(object):
    """`trafficpipe detect` running in the background with its log in a file."""

    def __init__(self, tmp_path, display, *args):
        self.log_path = tmp_path / "stderr.txt"
        self.log = open(str(self.log_path), "w")
        env = dict(os.environ, DISPLAY=display)
        self.proc = subprocess.Popen([sys.executable, "-m", "trafficpipe", "detect"] + [str(a) for a in args],
                                     cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=self.log)

    def stderr(self):
        return self.log_path.read_text()

    def state(self):
        """Whether the run goes on, and its log's end: for a failing test's message."""
        rc = self.proc.poll()
        return "%s; log: %s" % ("running" if rc is None else "ended with %d" % rc, self.stderr()[-1500:])

    def wait_for_log(self, text, timeout=90.0):
        wait_for(lambda: text in self.stderr() or self.proc.poll() is not None, repr(text), timeout)
        assert text in self.stderr(), self.stderr()

    def wait(self, timeout):
        # type: (float) -> bool
        """Whether the run ended within `timeout` seconds."""
        try:
            self.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def finish(self, timeout=30.0):
        try:
            rc = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.log.close()
        return rc


def xdotool(display, *args):
    return subprocess.run(["xdotool"] + list(args), env=dict(os.environ, DISPLAY=display), stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, universal_newlines=True, timeout=30).stdout


def find_window(display, wait=True):
    """The live view's window: (id, x, y, width, height); without `wait`, None when none is on screen now."""
    sync = ("--sync",) if wait else ()
    found = xdotool(display, "search", *sync, "--onlyvisible", "--name", "^trafficpipe$").split()
    if not found:
        return None
    wid = found[0]
    geo = dict(l.split("=") for l in xdotool(display, "getwindowgeometry", "--shell", wid).split())
    return wid, int(geo["X"]), int(geo["Y"]), int(geo["WIDTH"]), int(geo["HEIGHT"])


def screenshot(display):
    """The whole X screen as an RGB array (Pillow's ImageGrab over XCB)."""
    from PIL import ImageGrab
    return np.asarray(ImageGrab.grab(xdisplay=display).convert("RGB"))


def close_window(display, wid):
    """Close the window as a window manager does when its close button is pressed: WM_DELETE_WINDOW."""
    from Xlib import X, display as xdisplay, protocol
    d = xdisplay.Display(display)
    try:
        win = d.create_resource_object("window", int(wid))
        event = protocol.event.ClientMessage(window=win, client_type=d.intern_atom("WM_PROTOCOLS"),
                                             data=(32, [d.intern_atom("WM_DELETE_WINDOW"), X.CurrentTime, 0, 0, 0]))
        win.send_event(event, event_mask=X.NoEventMask)
        d.flush()
    finally:
        d.close()


def jsonl_frames(path):
    return [json.loads(l) for l in path.read_text().splitlines()]


def find_fps_label(shot, name):
    """The fps value whose label (as the view draws it) is exactly what the screenshot shows at its top left."""
    for tenths in range(0, 2000):
        text = "%s  %.1f fps  (ended)" % (name, tenths / 10.0)
        ref = draw_label(np.zeros((60, 500, 3), np.uint8), text, (6, 6))
        box = ref.any(2)
        if np.array_equal(shot[:60, :500][box], ref[box][:, ::-1]):
            return tenths / 10.0
    return None


def test_screenshot_shows_the_frame_with_boxes_and_fps_and_closing_the_window_ends_the_run(xdisplay, video_720p,
                                                                                           tmp_path):
    out = tmp_path / "out"
    run = Run(tmp_path, xdisplay, video_720p, "--out", out, "--save", "video,jsonl,display://0?hold=1",
              "--max-frames", 30, "--model", "picodet-s-320", "--threads", 1)
    try:
        run.wait_for_log("the run has ended; press q or Esc")  # hold=1: the last frame stays on screen
        wid, x, y, w, h = find_window(xdisplay)
        assert (w, h) == (1280, 720)
        deadline = time.time() + 10  # a loaded machine may paint the window some seconds after it is mapped
        while True:
            time.sleep(0.5)
            shot = screenshot(xdisplay)[y:y + h, x:x + w]
            if shot.std() > 30 or time.time() > deadline:
                break
        np.save(str(tmp_path / "screen.npy"), shot)
        for _ in range(10):  # Qt under Xvfb now and then misses one, as a user's click may be: click again
            close_window(xdisplay, wid)
            if run.wait(3.0):
                break
        rc = run.finish()
    finally:
        run.finish(1)
    assert rc == 0, run.stderr()
    assert "live view: closed by the user" in run.stderr() and "Traceback" not in run.stderr()
    # the window shows the last annotated frame, as the annotated video has it (up to the video's compression)
    frames = read_frames(out / "highway-720p.mp4")
    recs = jsonl_frames(out / "highway-720p.jsonl")
    assert len(frames) == len(recs) == 30
    body = np.ones((720, 1280), bool)
    body[:60, :500] = False  # the label
    # above 60 fps the screen gets a frame only once the previous one is shown: the window holds one of the last few
    diffs = [np.abs(shot.astype(np.int16) - cv2.cvtColor(f, cv2.COLOR_BGR2RGB).astype(np.int16))[body].mean()
             for f in frames[-3:]]
    k = len(frames) - 3 + int(np.argmin(diffs))
    assert min(diffs) < 4 and shot[body].std() > 30  # the frame itself: not black, not empty
    # its boxes, in their class colour, where the JSONL has them
    boxes = [d for d in recs[k]["detections"] if d["cls"] == "vehicle" and d["box"][1] > 70]
    assert len(boxes) >= 5
    vehicle_rgb = np.array(COLORS[0][::-1])
    for d in boxes:
        x1, y1, x2, y2 = (int(v) for v in d["box"])
        edge = shot[min(y2, 719), x1 + 2:min(x2, 1279) - 2].astype(np.int16)  # the bottom edge, under no label
        assert (np.abs(edge - vehicle_rgb).max(1) < 40).mean() > 0.8, d
    # the fps overlay: the label drawn for one fps value matches the screen to the pixel, and differs from the frame
    shown = cv2.cvtColor(frames[k], cv2.COLOR_BGR2RGB).astype(np.int16)
    assert np.abs(shot.astype(np.int16) - shown)[:60, :500].mean() > 30
    fps = find_fps_label(shot, "highway-720p")
    assert fps is not None and fps > 0.5


def test_q_stops_the_run_with_every_output_valid(xdisplay, video_720p, tmp_path):
    # a replayed camera never ends by itself: only q stops it, however slow the machine
    out = tmp_path / "out"
    run = Run(tmp_path, xdisplay, "replay://" + video_720p, "--out", out, "--show", "--model", "picodet-s-320",
              "--threads", 1)
    try:
        run.wait_for_log("live view: 1 source(s)")
        wid = find_window(xdisplay)[0]
        first = cv2.cvtColor(read_frames(video_720p, 1)[0], cv2.COLOR_BGR2RGB).astype(np.int16)

        def shows_a_frame():  # a fixed camera: any frame of the clip looks like its first (an empty window does not)
            window = find_window(xdisplay, wait=False)
            if window is None:
                return False
            _, x, y, w, h = window
            shot = screenshot(xdisplay)[y:y + h, x:x + w][100:700, 100:1200]
            return shot.shape[:2] == (600, 1100) and np.abs(shot - first[100:700, 100:1200]).mean() < 25
        wait_for(shows_a_frame, "a frame in the window", 60, run.state)
        assert run.proc.poll() is None, run.state()
        xdotool(xdisplay, "key", "--window", wid, "q")
        rc = run.finish()
    finally:
        run.finish(1)
    log = run.stderr()
    assert rc == 0, log
    assert "live view: closed by the user" in log and "Traceback" not in log and "unwritten" not in log
    frames = read_frames(out / "highway-720p.mp4")
    recs = jsonl_frames(out / "highway-720p.jsonl")
    assert len(frames) == len(recs) > 0  # the files agree, frame for frame
    numbers = [r["frame"] for r in recs]
    assert numbers == sorted(set(numbers))
    m = re.search(r"highway-720p: (\d+) frames in, (\d+) written, (\d+) dropped", log)
    assert m, log
    # q ends the reading; every frame read is then written, or was evicted by a live queue (counted as dropped,
    # with the frames a slow reader was too late for)
    frames_in, written, dropped = (int(g) for g in m.groups())
    assert written == len(frames) and written + dropped >= frames_in
