"""replay:// sources: a real clip played as a live camera at its native rate, looping; bench --live on it."""
import json
import re

import cv2
import numpy as np
import pytest

from cli_helpers import read_frames, run_cli
from trafficpipe.errors import SourceError
from trafficpipe.sources.factory import open_source
from trafficpipe.sources.replay import ReplaySource


@pytest.fixture(scope="module")
def short_clip(video_360p, tmp_path_factory):
    """The first 6 frames of the 360p highway clip, re-encoded at the clip's own rate (a file that ends quickly)."""
    frames = read_frames(video_360p, 6)
    cap = cv2.VideoCapture(video_360p)
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    path = str(tmp_path_factory.mktemp("replay") / "short.mp4")
    w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (frames[0].shape[1], frames[0].shape[0]))
    for f in frames:
        w.write(f)
    w.release()
    return path


def test_replay_plays_at_the_native_rate_and_loops(short_clip):
    opened = open_source("replay://" + short_clip)
    assert isinstance(opened, ReplaySource)
    opened.close()
    t = [0.0]  # a clock that its waits move on, and only they: a loaded test machine cannot make a frame late

    def wait(seconds):
        t[0] += seconds
        return False

    src = ReplaySource("replay://" + short_clip, clock=lambda: t[0])
    src.sleep = wait
    src.open()
    assert src.live and src.name == "short"
    assert abs(src.fps - 29.97) < 0.01 and (src.width, src.height) == (640, 360)
    got, due = [], []
    for _ in range(15):  # 2.5 passes over a 6-frame file
        img, pts = src.read()
        got.append(img.copy())
        due.append(src.captured_at)
    src.close()
    assert src.loops == 2 and src.late == 0 and src.frames_read == 15
    # frames come back in the file's order, pass after pass
    for k in range(6, 15):
        assert np.array_equal(got[k], got[k - 6])
    # one frame period between frames, on the clock, whatever decoding or reopening the file took
    steps = np.diff(due)
    assert np.allclose(steps, 1.0 / src.fps, atol=1e-6)


def test_a_reader_that_falls_behind_loses_frames_as_a_camera_would(short_clip):
    t = [0.0]

    def clock():  # each look at the clock finds 2.5 frame periods gone: the reader is far too slow
        t[0] += 2.5 / 29.97
        return t[0]

    src = ReplaySource("replay://" + short_clip, clock=clock)
    src.open()
    due = []
    for _ in range(4):
        src.read()
        due.append(src.captured_at)
    src.close()
    # 2.5 periods pass per frame read: one or two frames lost each time, the one read stamped as the newest due
    assert src.frames_read == 4 and 4 <= src.late <= 8
    assert all(1.5 / 29.97 < d < 3.5 / 29.97 for d in np.diff(due))
    assert src.describe()["late"] == src.late


def test_replay_of_a_missing_or_broken_file_fails_in_one_line(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        open_source("replay://" + str(tmp_path / "nope.mp4"))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 100)
    with pytest.raises(SourceError, match="cannot decode"):
        open_source("replay://" + str(bad))


def test_detect_on_a_replayed_camera_writes_every_frame_with_latency(short_clip, tmp_path):
    r = run_cli("detect", "replay://" + short_clip, "--model", "picodet-s-320", "--threads", "1", "--max-frames", "9",
                "--save", "jsonl", "--out", tmp_path, "--no-progress")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in open(str(tmp_path / "short.jsonl"))]
    m = re.search(r"short: 9 frames in, (\d+) written, (\d+) dropped.*latency p50 (\d+) ms", r.stderr)
    assert m, r.stderr
    written, dropped = int(m.group(1)), int(m.group(2))
    # 9 frames entered (9 > 6: the file looped); each was written or, on a machine too slow for 30 fps, dropped
    assert written == len(lines) and 0 < written <= 9 and (written == 9 or dropped > 0)
    ts = [x["t"] for x in lines]
    assert ts == sorted(ts) and all(abs(t * 29.97 - round(t * 29.97)) < 5e-3 for t in ts)  # camera clock, 0.1 ms steps


def test_bench_live_ramps_replayed_cameras(video_360p, tmp_path):
    out = tmp_path / "live.json"
    r = run_cli("bench", video_360p, "--model", "picodet-s-320", "--threads", "1", "--decode-threads", "1",
                "--live", "2,1", "--live-seconds", "1", "--output", "jsonl", "--json", out)
    assert r.returncode == 0, r.stderr
    assert "capacity:" in r.stdout
    rep = json.load(open(str(out)))
    assert rep["schema"] == "trafficpipe-live-capacity/1" and rep["max_p99_ms"] == 100.0
    steps = rep["steps"]
    assert steps[0]["streams"] == 1  # ascending
    for s in steps:
        assert s["expected_frames"] == s["streams"] * 30
        # every frame that entered the pipeline was written or evicted by a queue; a reader behind lost others
        assert s["frames_out"] + s["dropped"] - s["lost_by_readers"] == s["expected_frames"]
        assert s["latency_ms"]["p99"] >= s["latency_ms"]["p50"] > 0
        assert s["served"] == (s["dropped"] == 0 and s["frames_out"] == s["expected_frames"]
                               and s["latency_ms"]["p99"] <= 100.0)
    assert rep["capacity"] == max([s["streams"] for s in steps if s["served"]] or [0])
    assert "--live 2,1" in rep["command"]


def test_bench_live_rejects_bad_counts(video_360p):
    r = run_cli("bench", video_360p, "--live", "0,4")
    assert r.returncode != 0 and "positive source counts" in r.stderr and "Traceback" not in r.stderr
