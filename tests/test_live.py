"""Live and multi-camera input against a real RTSP server (GStreamer's, run by Debian's Python: tests/rtsp_server.py).

Needs the apt packages gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base gstreamer1.0-plugins-good
gstreamer1.0-plugins-bad gstreamer1.0-rtsp (CI installs them). Every wait is bounded, so a hang fails a test instead of
burning CI. The streams play at real-time speed, so the timing figures here are generous bounds, not speed goals.
"""
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time

import cv2
import pytest

from trafficpipe.detector import Detector
from trafficpipe.engines.onnxruntime_engine import OnnxRuntimeContext, OnnxRuntimeEngine
from trafficpipe.paths import data_dir
from trafficpipe.pipeline import Pipeline
from trafficpipe.run_config import RunConfig
from trafficpipe.sources.base import SourceState
from trafficpipe.sources.factory import open_source
from cli_helpers import free_port  # noqa: F401 - also imported from here by other tests

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER_SCRIPT = os.path.join(HERE, "rtsp_server.py")
# Debian's Python, the one with gi (a venv's Python has none); TRAFFICPIPE_RTSP_PYTHON names another
SYSTEM_PYTHON = os.environ.get("TRAFFICPIPE_RTSP_PYTHON", "/usr/bin/python3")
CLIP_FRAMES = 341  # highway-360p.mp4
MODEL = "picodet-s-320"


def clip_path():
    path = os.path.join(data_dir(), "videos", "highway-360p.mp4")
    assert os.path.isfile(path), "shared clip missing: %s (set TRAFFICPIPE_DATA)" % path
    return path


class RtspServer(object):
    """tests/rtsp_server.py in a subprocess: start (waits for READY), kill (SIGKILL, like a crash), stop."""

    def __init__(self, clip, paths=("/live",), port=None):
        self.clip = clip
        self.paths = paths
        self.port = port or free_port()
        self.proc = None

    def url(self, path=None):
        return "rtsp://127.0.0.1:%d%s" % (self.port, path or self.paths[0])

    def start(self, timeout=20.0):
        self._close_pipes()
        cmd = [SYSTEM_PYTHON, SERVER_SCRIPT, "--port", str(self.port), "--clip", self.clip]
        for p in self.paths:
            cmd += ["--path", p]
        # unbuffered, so that select() sees every byte not yet read
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        deadline = time.time() + timeout
        ready = False
        while not ready:
            left = deadline - time.time()
            if left <= 0 or self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
                self.stop()
                pytest.fail("RTSP server did not start (needs apt packages gir1.2-gst-rtsp-server-1.0 python3-gi "
                            "gstreamer1.0-plugins-{base,good,bad} gstreamer1.0-rtsp): %s" % err.strip()[-500:])
            if select.select([self.proc.stdout], [], [], min(left, 0.5))[0]:
                line = self.proc.stdout.readline().decode()
                ready = line.startswith("READY")
        return self

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._close_pipes()

    def _close_pipes(self):
        if self.proc is not None:
            self.proc.stdout.close()
            self.proc.stderr.close()


@pytest.fixture
def rtsp_server():
    """A factory of started servers, all stopped at the end of the test."""
    if not os.path.exists(SYSTEM_PYTHON):
        pytest.fail("%s (Debian's Python with gi) is needed to run the RTSP test server" % SYSTEM_PYTHON)
    servers = []

    def make(paths=("/live",), port=None):
        srv = RtspServer(clip_path(), paths, port).start()
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.stop()


@pytest.fixture
def detector(picodet320):
    return picodet320  # conftest's session-wide PicoDet-S 320 on ONNX Runtime


class FrameLog(object):
    """The pipeline's on_frame callback: (wall time written, capture index, perf_counter captured) per source."""

    def __init__(self, n):
        self.written = [[] for _ in range(n)]

    def __call__(self, frame):
        self.written[frame.source_id].append((time.time(), frame.index, frame.t_capture))

    def count(self, sid):
        return len(self.written[sid])

    def between(self, sid, t0, t1):
        return sum(1 for w in self.written[sid] if t0 <= w[0] <= t1)


def run_in_thread(pipe, timeout):
    """Start `pipe.run()` in a thread; returns join() -> summary, which fails the test after `timeout` seconds."""
    result = {}

    def target():
        try:
            result["summary"] = pipe.run()
        except BaseException as e:  # noqa: B902 - handed to the test
            result["error"] = e

    t = threading.Thread(target=target, name="pipeline-under-test")
    t.daemon = True
    t.start()
    deadline = time.time() + timeout

    def join():
        t.join(max(0.0, deadline - time.time()))
        if t.is_alive():
            pipe.stop()
            t.join(15)
            pytest.fail("pipeline still running after %.0f s" % timeout)
        if "error" in result:
            raise result["error"]
        return result["summary"]
    return join


def wait_for(cond, timeout, what):
    deadline = time.time() + timeout
    while not cond():
        if time.time() > deadline:
            pytest.fail("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(0.02)


def show(summary):
    """The per-source figures, printed for `pytest -s` / `-rP` (what the README's numbers come from)."""
    for s in summary.sources:
        print("%s: in %d out %d dropped %d reconnects %d state %s latency p50 %.0f p99 %.0f ms" % (
            s["name"], s["frames_in"], s["frames_out"], s["dropped"], s["reconnects"], s["state"],
            s["latency_ms"]["p50"], s["latency_ms"]["p99"]))


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def video_frames(path):
    cap = cv2.VideoCapture(path)
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def live_source(url, **kw):
    opts = dict(retries=6, retry_delay=0.25, connect_live=False)
    opts.update(kw)
    return open_source(url, **opts)


def check_outputs(out, src, frames_out):
    """The source's jsonl and mp4 hold exactly `frames_out` frames, in increasing capture order."""
    recs = read_jsonl(os.path.join(out, src["name"] + ".jsonl"))
    assert len(recs) == frames_out
    idx = [r["frame"] for r in recs]
    assert all(b > a for a, b in zip(idx, idx[1:])), "frames out of order in %s" % src["name"]
    ts = [r["t"] for r in recs]
    assert all(b >= a for a, b in zip(ts, ts[1:]))
    assert video_frames(os.path.join(out, src["name"] + ".mp4")) == frames_out
    return recs


# -- the capture queue ------------------------------------------------------------------------------------------------
def test_capture_queue_serves_sources_in_turn_and_counts_drops_per_source():
    from trafficpipe.pipeline import BLOCK, DROP_OLDEST, Frame, StageQueue
    q = StageQueue(4, threading.Event(), fair=True)
    q.capacities[1] = 2  # source 1 is live
    for i in range(4):
        q.put(Frame(0, i, 0.0, None), BLOCK)
    for i in range(3):
        q.put(Frame(1, i, 0.0, None), DROP_OLDEST)  # the third evicts live frame 0
    got = [(f.source_id, f.index) for f in iter(lambda: q.get(timeout=0), None)]
    assert got == [(0, 0), (1, 1), (0, 1), (1, 2), (0, 2), (0, 3)]
    assert q.dropped == 1 and dict(q.dropped_by_source) == {1: 1}


# -- (a) several sources at once -------------------------------------------------------------------------------------
def test_two_streams_and_a_file_at_once(rtsp_server, detector, tmp_path):
    srv = rtsp_server(paths=("/cam1", "/cam2"))
    limit = 120
    log = FrameLog(3)
    # connected before the start, so that the streams and the file run side by side from the first frame
    sources = [live_source(srv.url("/cam1"), connect_live=True), live_source(srv.url("/cam2"), connect_live=True),
               clip_path()]
    pipe = Pipeline(sources, detector, RunConfig.defaults(max_frames=limit), out_dir=str(tmp_path), on_frame=log)
    summary = run_in_thread(pipe, 90)()
    show(summary)

    cam1, cam2, clip = summary.sources
    assert [s["name"] for s in summary.sources] == ["127.0.0.1_%d_cam1" % srv.port, "127.0.0.1_%d_cam2" % srv.port,
                                                    "highway-360p"]
    # the file loses nothing: exactly the frames asked for, in order, 0..limit-1
    assert clip["frames_in"] == clip["frames_out"] == limit and clip["dropped"] == 0
    assert [r["frame"] for r in check_outputs(str(tmp_path), clip, limit)] == list(range(limit))
    for cam in (cam1, cam2):
        assert cam["live"] and cam["state"] == SourceState.ENDED and cam["error"] is None
        assert cam["frames_in"] == limit
        assert cam["frames_out"] > 0
        assert cam["frames_in"] == cam["frames_out"] + cam["dropped"]  # every captured frame written or counted
        recs = check_outputs(str(tmp_path), cam, cam["frames_out"])
        assert recs[-1]["frame"] < limit
        assert cam["latency_ms"]["p99"] > 0
    assert summary.failed_sources == []
    # a file, which never drops, does not starve the live sources: while both ran, each stream got its turn
    # (a share of the inferences at least a fifth of the file's, unless it needed fewer: then it lost none)
    clip_times = [w[0] for w in log.written[2]]
    for sid in (0, 1):
        cam_frames = [w for w in log.written[sid] if clip_times[0] <= w[0] <= clip_times[-1]]
        assert len(cam_frames) >= 2, "stream %d starved while the file ran" % sid
        captured = cam_frames[-1][1] - cam_frames[0][1] + 1
        clip_written = sum(1 for t in clip_times if cam_frames[0][0] <= t <= cam_frames[-1][0])
        assert len(cam_frames) >= 0.2 * min(captured, clip_written), (len(cam_frames), captured, clip_written)


# -- (b) a stream dies and comes back ---------------------------------------------------------------------------------
def test_stream_reconnects_while_the_others_go_on(rtsp_server, detector, tmp_path):
    dying = rtsp_server(paths=("/cam",))
    steady = rtsp_server(paths=("/cam",))
    limit = 150
    log = FrameLog(3)
    sources = [live_source(dying.url(), retries=8), live_source(steady.url()), clip_path()]
    pipe = Pipeline(sources, detector, RunConfig.defaults(max_frames=limit), out_dir=str(tmp_path), on_frame=log)
    join = run_in_thread(pipe, 100)

    wait_for(lambda: log.count(0) >= 10, 40, "frames from the first stream")
    before = log.count(0)
    t_kill = time.time()
    dying.kill()
    wait_for(lambda: pipe.sources[0].state == SourceState.RECONNECTING, 20, "the dead stream to be noticed")
    time.sleep(1.0)  # the server stays down for a while
    t_restart = time.time()
    dying.start()
    wait_for(lambda: pipe.sources[0].reconnects >= 1, 30, "the stream to reconnect")
    summary = join()
    show(summary)

    cam, other, clip = summary.sources
    assert cam["reconnects"] >= 1 and cam["state"] == SourceState.ENDED and cam["error"] is None
    assert cam["frames_in"] == limit and cam["frames_in"] == cam["frames_out"] + cam["dropped"]
    after = [w for w in log.written[0] if w[0] > t_restart]
    assert len(after) > 0 and cam["frames_out"] > before, "no frames after the restart"
    # the same outputs go on: one jsonl/mp4 holding the frames of both connections, with the outage as a time gap
    recs = check_outputs(str(tmp_path), cam, cam["frames_out"])
    gaps = [b["t"] - a["t"] for a, b in zip(recs, recs[1:])]
    assert max(gaps) >= 0.9, "no outage visible in the stream's time stamps"
    # the other stream never paused: it kept writing while the first was down
    assert other["reconnects"] == 0 and other["state"] == SourceState.ENDED
    assert log.between(1, t_kill, t_restart) > 0
    check_outputs(str(tmp_path), other, other["frames_out"])
    # the file lost nothing and finished all its frames
    assert clip["frames_out"] == limit and clip["dropped"] == 0
    assert [r["frame"] for r in check_outputs(str(tmp_path), clip, limit)] == list(range(limit))
    if log.written[2][-1][0] > t_restart:  # the file was still running during the outage
        assert log.between(2, t_kill, t_restart) > 0


# -- (c) inference slower than the stream ------------------------------------------------------------------------------
class ThrottledContext(OnnxRuntimeContext):
    """The real ONNX Runtime computation, made slower: a double of speed only."""

    delay = 0.1

    def _launch(self, slot):
        time.sleep(self.delay)
        super(ThrottledContext, self)._launch(slot)


class ThrottledEngine(OnnxRuntimeEngine):
    def create_context(self, n_slots=2, batch=1):
        ctx = ThrottledContext(self, n_slots, batch)
        self.contexts.append(ctx)
        return ctx


def test_a_stream_read_long_after_it_connected_starts_from_current_frames(rtsp_server):
    """A single camera connects before the model loads; read 3 s later, its 3 s of buffered frames would come in a
    burst (90 frames within a few tenths of a second of wall time). It is connected again instead: past the short
    burst any fresh connection starts with (about 30 frames here), 90 frames span about 2 s, as the stream plays."""
    srv = rtsp_server()
    src = live_source(srv.url(), connect_live=True)
    try:
        time.sleep(3.0)
        t = [src.read()[1] for _ in range(90)]
    finally:
        src.close()
    assert t[-1] - t[0] > 1.2, t


def test_live_latency_stays_bounded_with_slow_inference(rtsp_server, tmp_path):
    srv = rtsp_server()
    det = Detector(MODEL)
    det.engine.close()
    det.engine = ThrottledEngine(det.model_path)
    limit = 150  # 5 s of stream at 30 fps, inference at < 10 fps
    live_q = 2
    pipe = Pipeline([live_source(srv.url())], det, RunConfig.defaults(max_frames=limit, live_queue_size=live_q),
                    out_dir=str(tmp_path))
    try:
        summary = run_in_thread(pipe, 60)()
    finally:
        det.close()
    show(summary)
    cam = summary.sources[0]
    assert cam["frames_in"] == limit
    assert cam["dropped"] > 0 and cam["frames_in"] == cam["frames_out"] + cam["dropped"]
    assert summary.dropped == cam["dropped"]
    # capture ran at the stream's pace, not the engine's: the stream never backed up behind inference
    recs = check_outputs(str(tmp_path), cam, cam["frames_out"])
    assert recs[-1]["frame"] / recs[-1]["t"] > 20.0
    # capture -> write latency is bounded by what can be queued: the live queue plus the slots in flight,
    # each costing one inference; a generous factor 2 and 0.5 s of slack for a loaded CI machine
    in_flight = live_q + pipe.layout.slots + 2
    bound_ms = (in_flight * ThrottledContext.delay * 2 + 0.5) * 1000.0
    assert cam["latency_ms"]["p99"] < bound_ms, (cam["latency_ms"], bound_ms)
    assert summary.latency_ms["p99"] < bound_ms


# -- (d) nothing listens -----------------------------------------------------------------------------------------------
def _detect(args, tmp_path, timeout=90):
    env = dict(os.environ, TRAFFICPIPE_DATA=data_dir())
    cmd = [sys.executable, "-m", "trafficpipe", "detect"] + args + ["--out", str(tmp_path / "out"), "--model", MODEL]
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                          timeout=timeout)


def test_nothing_listening_fails_in_one_line_after_retries(tmp_path):
    url = "rtsp://127.0.0.1:%d/x" % free_port()
    r = _detect([url, "--retries", "2", "--retry-delay", "0.1"], tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert lines[-1] == "trafficpipe: error: source %s: cannot connect after 2 retries (connection refused)" % url
    assert "Traceback" not in r.stderr
    assert sum(1 for line in lines if "retry " in line) == 2  # both attempts were made (and logged)
    assert not [line for line in lines if "WARN:" in line or "Connection refused" in line]  # no native noise
    assert sum(1 for line in lines if line.endswith(": connection refused")) == 3  # the first attempt and 2 retries


def test_a_count_line_outside_a_streams_frames_is_refused_at_its_first_frame(rtsp_server, tmp_path):
    """A stream's size is known only once it is read: a counting line that leaves its 640x360 frames ends the run at
    the first frame in one line (it would count nothing), as it does for a file before the run."""
    srv = rtsp_server()
    r = _detect([srv.url(), "--max-frames", "30", "--count", "a=0,300,900,300"], tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "trafficpipe: error: --count a: point (900, 300) is outside " \
        "127.0.0.1_%d_live's 640x360 frame" % srv.port


def test_a_server_that_never_answers_holds_no_other_open(tmp_path):
    """A server that takes the connection and never answers (a hung camera): OpenCV holds one lock over every FFmpeg
    open, so its open would hold every other source's open and every video writer's for the whole timeout. It is
    asked outside OpenCV first: a video file opens while it is still waiting, and its failure says why."""
    import socket
    from trafficpipe.errors import SourceError
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    held = []
    threading.Thread(target=lambda: held.append(server.accept()), daemon=True).start()
    url = "rtsp://user:pw@127.0.0.1:%d/x" % server.getsockname()[1]
    try:
        src = open_source(url, retries=0, connect_live=False)
        src.open_timeout = 4.0
        failed = []

        def connect():
            try:
                src.open()
            except SourceError as e:
                failed.append(str(e))
        t = threading.Thread(target=connect)
        t.start()
        deadline = time.time() + 30
        while not held and time.time() < deadline:
            time.sleep(0.02)
        assert held
        cap = cv2.VideoCapture(clip_path())
        waiting = t.is_alive()  # the file opened while the live source still waits for an answer
        ok = cap.isOpened()
        cap.release()
        t.join(30)
    finally:
        server.close()
    assert ok and waiting
    assert len(failed) == 1 and failed[0].startswith("source rtsp://user:***@127.0.0.1:")
    assert failed[0].endswith("cannot connect after 0 retries (the server took the connection but gave no answer in "
                              "4 s)") and "pw" not in failed[0], failed


def test_a_server_that_answers_options_but_never_describes_the_stream_is_named_so():
    """A camera whose stream is stuck answers OPTIONS and then hangs in DESCRIBE: that is found outside OpenCV too
    (with the URL's password left out of the request), and a server that answers both is let through."""
    import socket
    from trafficpipe.sources.rtsp_probe import rtsp_silence
    for describes in (False, True):
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(5)
        asked = []

        def serve():
            conn, _ = server.accept()
            for cseq in (1, 2):
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(4096)
                asked.append(data.decode())
                if cseq == 2 and not describes:
                    time.sleep(3)
                    break
                conn.sendall(b"RTSP/1.0 %s\r\nCSeq: %d\r\n\r\n" % (b"200 OK" if cseq == 1 else b"401 Unauthorized",
                                                                        cseq))
            conn.close()
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        port = server.getsockname()[1]
        try:
            why = rtsp_silence("rtsp://user:pw@127.0.0.1:%d/cam" % port, 2.0)
        finally:
            t.join(5)
            server.close()
        assert [a.split(" ", 1)[0] for a in asked] == ["OPTIONS", "DESCRIBE"]
        assert asked[1].startswith("DESCRIBE rtsp://127.0.0.1:%d/cam RTSP/1.0\r\n" % port) and "pw" not in asked[1]
        assert why == (None if describes else "the server answered but gave no stream description (DESCRIBE) in 2 s")


def test_dead_stream_among_others_is_logged_and_the_others_written(tmp_path):
    url = "rtsp://127.0.0.1:%d/x" % free_port()
    r = _detect([clip_path(), url, "--retries", "1", "--retry-delay", "0.1", "--max-frames", "20"], tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert lines[-1] == "trafficpipe: error: 1 of 2 sources failed (the others were written): source %s: cannot " \
                        "connect after 1 retry (connection refused)" % url
    assert any("ERROR" in line and url in line and "the other sources go on" in line for line in lines)
    out = tmp_path / "out"
    assert [r["frame"] for r in read_jsonl(str(out / "highway-360p.jsonl"))] == list(range(20))
    assert video_frames(str(out / "highway-360p.mp4")) == 20
