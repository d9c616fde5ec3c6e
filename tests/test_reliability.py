"""Reliability and security of `trafficpipe detect` / `bench`, as a user and a reviewer see them: no password in any
output, log or report; every output its own; unreadable inputs skipped and counted; SIGTERM handled as Ctrl-C; one run
per output folder, older outputs replaced only by complete new ones; option values checked when parsed. Real files,
real signals, a real local RTSP server (tests/rtsp_server.py) and a real silent TCP server."""
import argparse
import glob
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import cv2
import pytest

from cli_helpers import damaged_copy, one_error_line, read_frames, run_cli, start_cli
from test_live import clip_path, free_port, rtsp_server  # noqa: F401 - the fixture: a real GStreamer RTSP server
from trafficpipe import cli_values
from trafficpipe.redact import redact
from trafficpipe.sources.base import output_names, source_name

MODEL = "picodet-s-320"
PASSWORD = "secretpass"


def jsonl(path):
    with open(str(path)) as f:
        return [json.loads(l) for l in f]


def popen_detect(*args):
    return start_cli("detect", *args)


def wait_until(cond, timeout, what):
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, "timed out waiting for " + what
        time.sleep(0.1)


def dev_images(n):
    return sorted(glob.glob(os.path.join(os.environ.get("TRAFFICPIPE_DATA", ""), "data", "traffic-dev", "images", "*",
                                         "*.jpg")))[:n]


# -- 1. credentials ---------------------------------------------------------------------------------------------------
def test_passwords_are_masked_in_text_and_left_out_of_names():
    assert redact("source rtsp://admin:%s@10.0.0.5:554/h264 failed" % PASSWORD) == \
        "source rtsp://admin:***@10.0.0.5:554/h264 failed"
    assert redact("http://u:p%40ss@cam/x and rtsp://cam/y") == "http://u:***@cam/x and rtsp://cam/y"
    assert redact("/data/clip@2x.mp4") == "/data/clip@2x.mp4"
    assert source_name("rtsp://admin:%s@10.0.0.5:554/h264" % PASSWORD) == "10.0.0.5_554_h264"
    assert PASSWORD not in " ".join(output_names(["rtsp://u:%s@h/a" % PASSWORD, "rtsp://u:%s@h/a" % PASSWORD]))


def test_password_never_appears_in_outputs_logs_or_bench_report(rtsp_server, tmp_path):  # noqa: F811
    """detect over rtsp://user:secretpass@127.0.0.1:PORT/live (the real local server), a second URL with the password
    where nothing listens (its retries and its failure are logged), and bench with --json over the same stream: a grep
    for the password over every file written, stdout and stderr finds nothing."""
    srv = rtsp_server()
    url = "rtsp://user:%s@127.0.0.1:%d/live" % (PASSWORD, srv.port)
    dead = "rtsp://user:%s@127.0.0.1:%d/none" % (PASSWORD, free_port())
    out = tmp_path / "out"
    p = run_cli("detect", url, dead, "--out", out, "--model", MODEL, "--max-frames", "30", "--retries", "1",
                "--retry-delay", "0.1", "--debug", timeout=120)
    assert p.returncode == 2, p.stderr  # the dead one failed, the live one was written
    assert "rtsp://user:***@127.0.0.1:%d/none" % srv.port not in p.stderr  # (the port differs: just not the password)
    assert "user:***@" in p.stderr
    recs = jsonl(out / ("127.0.0.1_%d_live.jsonl" % srv.port))
    assert len(recs) > 0 and recs[0]["source"] == "127.0.0.1_%d_live" % srv.port
    report = tmp_path / "report.json"
    b = run_cli("bench", url, "--model", MODEL, "--frames", "20", "--repeat", "1", "--warmup", "1", "--output", "jsonl",
                "--json", report, "--out", tmp_path / "bench", timeout=240)
    assert b.returncode == 0, b.stderr
    assert "user:***@" in report.read_text()
    texts = [p.stdout, p.stderr, b.stdout, b.stderr]
    names = []
    for root, dirs, files in os.walk(str(tmp_path)):
        names += dirs + files
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                texts.append(fh.read().decode("latin-1"))
    assert len(names) > 5
    assert not [n for n in names if PASSWORD in n]
    assert not [t[:200] for t in texts if PASSWORD in t]


# -- 2. every output its own ------------------------------------------------------------------------------------------
def test_videos_of_one_name_in_different_folders_keep_their_own_outputs(video_360p, tmp_path):
    """dirA/clip.mp4 dirB/clip.mp4 dirC/clip_1.mp4: three sets of outputs, none lost to a numbered name."""
    for d in ("dirA", "dirB", "dirC"):
        (tmp_path / d).mkdir()
    srcs = [tmp_path / "dirA" / "clip.mp4", tmp_path / "dirB" / "clip.mp4", tmp_path / "dirC" / "clip_1.mp4"]
    for s in srcs:
        os.symlink(video_360p, str(s))
    out = tmp_path / "out"
    p = run_cli("detect", *srcs, "--out", out, "--model", MODEL, "--save", "jsonl", "--max-frames", "4")
    assert p.returncode == 0, p.stderr
    files = sorted(os.listdir(str(out)))
    assert files == ["clip_1.jsonl", "dirA_clip.jsonl", "dirB_clip.jsonl"], files
    for f in files:
        assert [r["frame"] for r in jsonl(out / f)] == [0, 1, 2, 3]
    assert p.stderr.count("4 written") == 3


def test_images_of_one_stem_keep_their_own_outputs(tmp_path):
    """sub1/a.jpg, sub2/a.jpg, a.jpg and a.png in one folder: four annotated images and four .txt files."""
    imgs = dev_images(3)
    src = tmp_path / "set"
    (src / "sub1").mkdir(parents=True)
    (src / "sub2").mkdir()
    shutil.copy(imgs[0], str(src / "sub1" / "a.jpg"))
    shutil.copy(imgs[1], str(src / "sub2" / "a.jpg"))
    shutil.copy(imgs[2], str(src / "a.jpg"))
    cv2.imwrite(str(src / "a.png"), cv2.imread(imgs[0]))
    out = tmp_path / "out"
    p = run_cli("detect", src, "--out", out, "--model", MODEL, "--save", "images,txt,jsonl")
    assert p.returncode == 0, p.stderr
    annotated = sorted(os.path.relpath(f, str(out / "set")) for f in glob.glob(str(out / "set" / "**" / "*.jpg"),
                                                                                recursive=True))
    assert annotated == ["a_jpg.jpg", "a_png.jpg", "sub1/a.jpg", "sub2/a.jpg"]
    txts = sorted(os.path.relpath(f, str(out / "detection-results"))
                  for f in glob.glob(str(out / "detection-results" / "**" / "*.txt"), recursive=True))
    assert txts == ["a_jpg.txt", "a_png.txt", "sub1/a.txt", "sub2/a.txt"]
    assert len(jsonl(out / "set.jsonl")) == 4


# -- 3. an unreadable image -------------------------------------------------------------------------------------------
def test_unreadable_image_is_skipped_and_the_rest_completes(video_360p, tmp_path):
    src = tmp_path / "imgs"
    src.mkdir()
    for i, f in enumerate(dev_images(3)):
        shutil.copy(f, str(src / ("%d.jpg" % (2 * i))))
    (src / "1.jpg").write_bytes(b"this is not a jpeg" * 50)
    out = tmp_path / "out"
    p = run_cli("detect", src, video_360p, "--out", out, "--model", MODEL, "--max-frames", "12", "--save",
                "images,jsonl")
    assert p.returncode == 3, p.stderr  # "partial", as for a damaged video
    assert any("WARNING" in l and "1.jpg" in l and "skipped" in l for l in p.stderr.splitlines())
    assert "1 of 4 images unreadable" in one_error_line(p)
    assert [os.path.basename(r["image"]) for r in jsonl(out / "imgs.jsonl")] == ["0.jpg", "2.jpg", "4.jpg"]
    assert sorted(os.listdir(str(out / "imgs"))) == ["0.jpg", "2.jpg", "4.jpg"]
    assert [r["frame"] for r in jsonl(out / "highway-360p.jsonl")] == list(range(12))  # the video ran to its end


# -- 4. SIGTERM -------------------------------------------------------------------------------------------------------
def count_video(path):
    return len(read_frames(path))


def test_sigterm_finishes_the_outputs_like_ctrl_c(video_720p, tmp_path):
    proc = popen_detect(video_720p, "--out", tmp_path, "--model", MODEL)
    lines = tmp_path / "highway-720p.jsonl"
    wait_until(lambda: lines.exists() and lines.stat().st_size > 20000, 120, "frames to be written")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert [l for l in err.splitlines() if l.startswith("trafficpipe:")] == ["trafficpipe: terminated"]
    n = len(lines.read_text().splitlines())
    assert 0 < n == count_video(str(tmp_path / "highway-720p.mp4")) < 450  # the mp4 plays: its moov was written


def test_sigterm_with_processes_stops_every_child(video_720p, tmp_path):
    proc = popen_detect(video_720p, video_720p, "--processes", "2", "--threads", "1", "--out", tmp_path, "--model",
                        MODEL)
    outs = [tmp_path / "highway-720p.jsonl", tmp_path / "highway-720p_1.jsonl"]
    wait_until(lambda: all(j.exists() and j.stat().st_size > 10000 for j in outs), 120, "frames from both processes")
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], stdout=subprocess.PIPE,
                              universal_newlines=True).stdout.split()
    assert len(children) >= 2
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    def running(pid):
        try:
            with open("/proc/%s/status" % pid) as f:
                return "zombie" not in f.read().lower()
        except IOError:
            return False
    wait_until(lambda: not [pid for pid in children if running(pid)], 5, "every child to end")
    for j in outs:
        n = len(j.read_text().splitlines())
        assert 0 < n == count_video(str(j)[:-len(".jsonl")] + ".mp4") < 450


# -- 5. one run per output folder; older outputs replaced only by complete new ones ----------------------------------
def test_a_second_run_into_the_same_folder_is_refused(video_720p, tmp_path):
    first = popen_detect(video_720p, "--out", tmp_path, "--model", MODEL)
    try:
        wait_until(lambda: (tmp_path / "highway-720p.jsonl").exists(), 120, "the first run to write")
        p = run_cli("detect", video_720p, "--out", tmp_path, "--model", MODEL, "--max-frames", "3")
        assert p.returncode == 2
        assert "is in use by another trafficpipe run (pid %d)" % first.pid in one_error_line(p)
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    n = len((tmp_path / "highway-720p.jsonl").read_text().splitlines())
    assert 0 < n == count_video(str(tmp_path / "highway-720p.mp4"))  # the first run's outputs are whole
    assert not os.path.exists(str(tmp_path / ".trafficpipe.lock"))


def test_a_failing_run_leaves_earlier_outputs_as_they_were_and_a_rerun_says_what_it_replaces(video_360p, tmp_path):
    out = tmp_path / "out"
    p = run_cli("detect", video_360p, "--out", out, "--model", MODEL, "--max-frames", "5")
    assert p.returncode == 0, p.stderr
    before = (out / "highway-360p.jsonl").read_text()
    os.rename(str(out / "highway-360p.mp4"), str(tmp_path / "kept.mp4"))
    (out / "highway-360p.mp4").mkdir()  # the video cannot be written: the run fails as it opens its outputs
    p = run_cli("detect", video_360p, "--out", out, "--model", MODEL, "--max-frames", "7")
    assert p.returncode == 2 and "a folder of that name is in the way" in one_error_line(p)
    assert (out / "highway-360p.jsonl").read_text() == before  # not truncated
    assert sorted(os.listdir(str(out))) == ["highway-360p.jsonl", "highway-360p.mp4"]  # no temporary file left
    (out / "highway-360p.mp4").rmdir()
    os.rename(str(tmp_path / "kept.mp4"), str(out / "highway-360p.mp4"))
    p = run_cli("detect", video_360p, "--out", out, "--model", MODEL, "--max-frames", "7")
    assert p.returncode == 0, p.stderr
    assert [l for l in p.stderr.splitlines() if "replacing 2 existing outputs" in l and "highway-360p.mp4" in l
            and "highway-360p.jsonl" in l]
    assert len(jsonl(out / "highway-360p.jsonl")) == 7 == count_video(str(out / "highway-360p.mp4"))


# -- 7. option values -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cmd,opt,value", [
    ("detect", "--conf", "2"), ("detect", "--conf", "nan"), ("detect", "--iou", "5"), ("detect", "--batch", "0"),
    ("detect", "--batch", "100000"), ("detect", "--queue-size", "0"), ("detect", "--live-queue-size", "-1"),
    ("detect", "--contexts", "0"), ("detect", "--preprocess-workers", "0"), ("detect", "--threads", "-1"),
    ("detect", "--retries", "-1"), ("detect", "--max-frames", "0"), ("detect", "--processes", "0"),
    ("detect", "--retry-delay", "-1"), ("detect", "--batch-timeout", "inf"), ("detect", "--tile-overlap", "1"),
    ("detect", "--decode-threads", "-2"), ("detect", "--in-flight", "0"), ("detect", "--max-frames", "ten"),
    ("bench", "--frames", "0"), ("bench", "--repeat", "0"), ("bench", "--batch", "-3"), ("bench", "--writers", "0"),
    ("bench", "--conf", "-0.1"), ("eval", "--batch", "0"), ("eval", "--limit", "0"), ("eval", "--iou", "1.5"),
    ("eval-track", "--max-frames", "0"), ("train", "--lr", "0"), ("train", "--epochs", "0"),
    ("train", "--workers", "-1"), ("train", "--tile-crop", "1.5"), ("train", "--device", "gpu0"),
    ("export", "--blend", "1.2"), ("export", "--threads", "-1"), ("build-engine", "--batch", "0"),
    ("build-engine", "--workspace", "-5"), ("build-engine", "--calib-images", "0"), ("build-engine", "--device", "-1"),
])
def test_bad_option_values_end_at_parse_time_in_one_line(cmd, opt, value, tmp_path):
    positional = {"detect": [clip_path()], "bench": [clip_path()], "eval": [str(tmp_path)],
                  "eval-track": [str(tmp_path)], "train": [str(tmp_path)], "export": [str(tmp_path / "best.pt")],
                  "build-engine": ["picodet-s-416"]}[cmd]
    p = run_cli(cmd, *positional, opt + "=" + value, "--out", tmp_path / "o", timeout=60)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1, p.stderr
    assert p.stderr.startswith("trafficpipe %s: error: argument %s: " % (cmd, opt)) and value in p.stderr
    assert not os.path.exists(str(tmp_path / "o"))


def test_value_converters():
    assert cli_values.positive_int("3") == 3 and cli_values.nonneg_int("0") == 0
    assert cli_values.unit_interval("0.25") == 0.25 and cli_values.batch_size("256") == 256
    assert cli_values.int_at_least(-1)("-1") == -1 and cli_values.nonneg_float("0") == 0.0
    for conv, bad in ((cli_values.positive_int, "0"), (cli_values.positive_int, "1.5"), (cli_values.nonneg_int, "-1"),
                      (cli_values.unit_interval, "nan"), (cli_values.unit_interval, "1.01"),
                      (cli_values.batch_size, "257"), (cli_values.nonneg_float, "-inf"),
                      (cli_values.positive_float, "0"), (cli_values.fraction_below_one, "1")):
        with pytest.raises(argparse.ArgumentTypeError):
            conv(bad)
    assert not math.isnan(cli_values.unit_interval("1"))


# -- 8. damage mid-file -----------------------------------------------------------------------------------------------
def test_damage_mid_file_skips_to_the_next_keyframe_and_counts_what_was_lost(video_360p, tmp_path):
    """A stretch of zeroed picture data in the middle of the mp4 (one decoder): the frames after it, from the next
    keyframe on, are written too; the summary counts the unreadable ones; exit 3 ("partial")."""
    bad = damaged_copy(video_360p, tmp_path, "mid.mp4", start=0.5, end=0.6)
    out = tmp_path / "out"
    p = run_cli("detect", bad, "--out", out, "--model", MODEL, "--save", "jsonl")
    assert p.returncode == 3, p.stderr
    frames = [r["frame"] for r in jsonl(out / "mid.jsonl")]
    assert frames[-1] == 340 and frames == sorted(frames)
    lost = 341 - len(frames)
    assert 0 < lost < 150
    assert "%d of 341 frames decoded; unreadable: frames %d-" % (len(frames), max(
        f for f, g in zip(frames, frames[1:] + [341]) if g != f + 1) + 1) in one_error_line(p)
    assert "%d unreadable (skipped)" % lost in p.stderr
    assert "%d written" % len(frames) in p.stderr


@pytest.mark.parametrize("extra", [[], ["--set", "decode_workers=2"]])
def test_a_cut_file_ends_where_its_data_ends(shared, tmp_path, extra):
    """The street clip's first 400 kB (its index comes first): the index still lists every frame and keyframe, but a
    seek past the data lands back on the last frame there. Only the frames the file holds are written, in order and once each; the rest are counted
    unreadable (exit 3), none made up from a seek that landed elsewhere."""
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(open(os.path.join(shared, "videos", "street-540p.mp4"), "rb").read(400000))
    out = tmp_path / "out"
    p = run_cli("detect", cut, "--out", out, "--model", MODEL, "--save", "jsonl", "--no-progress", *extra)
    assert p.returncode == 3, p.stderr
    frames = [r["frame"] for r in jsonl(out / "cut.jsonl")]
    assert 0 < len(frames) < 100 and frames == list(range(len(frames)))
    assert "%d of 368 frames decoded; unreadable: frames %d-367" % (len(frames), len(frames)) in one_error_line(p)


# -- 9. smaller ones --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url,why", [("rtsp://", "no host"), ("rtsp://cam:99999/x", "bad port"),
                                     ("rtsp://u:%s@cam:port/x" % PASSWORD, "bad port"),
                                     ("http://cam /x", "white space")])
def test_malformed_stream_urls_are_rejected_at_once(url, why, tmp_path):
    t0 = time.time()
    p = run_cli("detect", url, "--out", tmp_path, "--model", MODEL, timeout=60)
    assert p.returncode == 2 and time.time() - t0 < 15
    line = one_error_line(p)
    assert "malformed stream URL" in line and why in line and PASSWORD not in p.stderr
    assert "retry" not in p.stderr


def test_ctrl_c_while_connecting_ends_at_once(tmp_path):
    """A server that accepts the connection and never answers (FFmpeg waits for its open timeout): Ctrl-C ends the
    run within a second or two, not after the timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    held = []
    threading.Thread(target=lambda: held.append(server.accept()), daemon=True).start()
    try:
        proc = popen_detect("rtsp://127.0.0.1:%d/x" % server.getsockname()[1], "--out", tmp_path, "--model", MODEL)
        wait_until(lambda: held, 30, "the connection")
        time.sleep(0.5)
        t0 = time.time()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        took = time.time() - t0
    finally:
        server.close()
    assert proc.returncode == 130, err
    assert took < 2.5, took
    assert [l for l in err.splitlines() if l.startswith("trafficpipe:")] == ["trafficpipe: interrupted"]


def test_model_folder_says_it_is_a_folder(video_360p, tmp_path):
    p = run_cli("detect", video_360p, "--model", tmp_path, "--out", tmp_path / "o")
    assert p.returncode == 2 and "is a folder; give the model file in it" in one_error_line(p)


def test_bench_checks_its_json_path_before_measuring(video_360p, tmp_path):
    t0 = time.time()
    p = run_cli("bench", video_360p, "--model", MODEL, "--json", tmp_path, "--frames", "30", "--repeat", "1")
    assert p.returncode == 2 and "cannot write %s: it is a folder" % tmp_path in one_error_line(p)
    assert "repeat" not in p.stderr and not p.stdout and time.time() - t0 < 20


def test_written_count_after_an_interrupted_live_run_matches_the_files(rtsp_server, tmp_path):  # noqa: F811
    srv = rtsp_server()
    proc = popen_detect(srv.url(), "--out", tmp_path, "--model", MODEL)
    name = "127.0.0.1_%d_live" % srv.port
    wait_until(lambda: (tmp_path / (name + ".jsonl")).exists() and len(
        (tmp_path / (name + ".jsonl")).read_text().splitlines()) > 20, 60, "live frames")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    summary = [l for l in err.splitlines() if (name + ":") in l and " written" in l]
    assert len(summary) == 1, err
    written = int(summary[0].split(" written")[0].rsplit(" ", 1)[1])
    n = len(jsonl(tmp_path / (name + ".jsonl")))
    assert written == n == count_video(str(tmp_path / (name + ".mp4")))
