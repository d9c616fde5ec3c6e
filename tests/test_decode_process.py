"""`--decode-process`: a video file decoded in a child process into a shared-memory ring gives exactly the in-process
results, reports damage the same way, stops on Ctrl-C, and leaves no process or ring file behind."""
import glob
import json
import signal
import subprocess
import sys
import time

import cv2

from cli_helpers import ROOT, run_cli
from test_detect_cli import count_frames, one_error_line


def _rings():
    return set(glob.glob("/dev/shm/trafficpipe-ring-*") + glob.glob("/tmp/trafficpipe-ring-*"))


def test_decode_process_gives_the_in_process_detections(video_360p, tmp_path):
    before = _rings()
    a = run_cli("detect", video_360p, "--out", tmp_path / "a", "--model", "picodet-s-320", "--decode-process")
    b = run_cli("detect", video_360p, "--out", tmp_path / "b", "--model", "picodet-s-320")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    ja = (tmp_path / "a" / "highway-360p.jsonl").read_text()
    assert ja == (tmp_path / "b" / "highway-360p.jsonl").read_text()
    assert len(ja.splitlines()) == 341 and sum(len(json.loads(l)["detections"]) for l in ja.splitlines()) > 1000
    n, _, size = count_frames(str(tmp_path / "a" / "highway-360p.mp4"))
    assert n == 341 and size == (640, 360)
    # the drawn frames (drawn into the shared ring) are the in-process ones
    ca, cb = cv2.VideoCapture(str(tmp_path / "a" / "highway-360p.mp4")), cv2.VideoCapture(str(tmp_path / "b" / "highway-360p.mp4"))
    for _ in range(5):
        fa, fb = ca.read()[1], cb.read()[1]
        assert (fa == fb).all()
    assert _rings() == before


def test_decode_process_with_max_frames(video_360p, tmp_path):
    p = run_cli("detect", video_360p, "--out", tmp_path, "--model", "picodet-s-320", "--decode-process",
                "--max-frames", "25", "--save", "jsonl")
    assert p.returncode == 0, p.stderr
    frames = [json.loads(l)["frame"] for l in (tmp_path / "highway-360p.jsonl").read_text().splitlines()]
    assert frames == list(range(25))


def test_decode_process_reports_a_damaged_file(video_360p, tmp_path):
    data = bytearray(open(video_360p, "rb").read())
    moov = data.find(b"moov") - 4
    start = int(moov * 0.6)
    data[start:moov] = b"\0" * (moov - start)
    bad = tmp_path / "damaged.mp4"
    bad.write_bytes(bytes(data))
    p = run_cli("detect", bad, "--out", tmp_path / "out", "--model", "picodet-s-320", "--decode-process")
    assert p.returncode == 3
    line = one_error_line(p)
    assert "damaged" in line and "of 341 frames" in line
    n, _, _ = count_frames(str(tmp_path / "out" / "damaged.mp4"))
    assert 100 < n < 341
    assert len((tmp_path / "out" / "damaged.jsonl").read_text().splitlines()) == n


def test_ctrl_c_with_a_decode_process(video_720p, tmp_path):
    before = _rings()
    proc = subprocess.Popen([sys.executable, "-m", "trafficpipe", "detect", video_720p, "--out", str(tmp_path),
                             "--model", "picodet-s-320", "--decode-process"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, start_new_session=True)
    jsonl = tmp_path / "highway-720p.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not jsonl.exists() or jsonl.stat().st_size < 20000):
        time.sleep(0.2)
    import os
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole process group, decoder included
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert [l for l in err.splitlines() if l.startswith("trafficpipe:")] == ["trafficpipe: interrupted"]
    lines = jsonl.read_text().splitlines()
    n, _, _ = count_frames(str(tmp_path / "highway-720p.mp4"))
    assert 0 < n == len(lines) < 450
    assert _rings() == before
