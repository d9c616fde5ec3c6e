"""`trafficpipe score` never mixes or loses results: segments belong to a file's content, the configuration key holds
the model file's content, a file without a keyframe table is scored to its real end, the manifest keeps the videos of
earlier runs, another configuration's output is replaced in one line; globs name folders; bad --out, --ray and --set
values end in one line (a Ray address's password never shown)."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from cli_helpers import one_error_line, run_cli, start_cli

pytest.importorskip("pyarrow")


def _clip(shared, path, frames, fourcc="mp4v"):
    """The first `frames` frames of highway-360p written to `path` with OpenCV (`fourcc`)."""
    import cv2
    cap = cv2.VideoCapture(os.path.join(shared, "videos", "highway-360p.mp4"))
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 30.0, (640, 360))
    for _ in range(frames):
        out.write(cap.read()[1])
    out.release()
    cap.release()
    return str(path)


def _manifest(out):
    return json.load(open(os.path.join(str(out), "manifest.json")))


def test_committed_segments_belong_to_the_files_content(tmp_path):
    """Segments an interrupted run committed for one content of /videos/v.mp4 are not reused once the file holds
    another (same path): every segment is scored again."""
    from trafficpipe.scale.rows import schema
    from trafficpipe.scale.run import ScoreRun
    from trafficpipe.scale.store import OutputStore
    from trafficpipe.scale.worker import META_KEY

    class Runner(object):
        name, workers = "test", ["here:1"]

    store = OutputStore(str(tmp_path))
    run = ScoreRun([], store, Runner(), {"model": "m.onnx"}, 12)
    segs = [(0, 12), (12, 24), (24, 36)]
    old = {"path": "/videos/v.mp4", "sha256": "aa" * 32}
    new = dict(old, sha256="bb" * 32)
    for a, b in segs[:2]:
        store.write_table(run._segment_path("v", old, a, b), schema(False).empty_table(), {META_KEY: {"frames": 12}})
    assert [t["start"] for t in run._segment_tasks("v", old, segs)] == [24]
    assert [t["start"] for t in run._segment_tasks("v", new, segs)] == [0, 12, 24]


def test_the_configuration_key_holds_the_model_files_content(shared, tmp_path):
    """Two different models under one file name are two configurations; the same file in two folders is one."""
    from trafficpipe.scale.plan import config_key
    models = os.path.join(shared, "models")
    for sub, src in (("a", "picodet_s_416_coco.onnx"), ("b", "picodet_s_320_coco.onnx"),
                     ("c", "picodet_s_416_coco.onnx")):
        (tmp_path / sub).mkdir()
        shutil.copy(os.path.join(models, src), str(tmp_path / sub / "model.onnx"))
    keys = [config_key({"model": str(tmp_path / sub / "model.onnx"), "conf": 0.3}) for sub in "abc"]
    assert keys[0] != keys[1] and keys[0] == keys[2]


def test_another_model_of_the_same_name_scores_again_and_says_it_replaces(shared, tmp_path):
    clip = _clip(shared, tmp_path / "clip.mp4", 24)
    for sub, src in (("a", "picodet_s_416_coco.onnx"), ("b", "picodet_s_320_coco.onnx")):
        (tmp_path / sub).mkdir()
        shutil.copy(os.path.join(shared, "models", src), str(tmp_path / sub / "picodet_s_416_coco.onnx"))
    out = tmp_path / "out"
    p = run_cli("score", clip, "--out", out, "--model", tmp_path / "a" / "picodet_s_416_coco.onnx", "--no-progress")
    assert p.returncode == 0, p.stderr
    first = _manifest(out)
    p = run_cli("score", clip, "--out", out, "--model", tmp_path / "b" / "picodet_s_416_coco.onnx", "--no-progress")
    assert p.returncode == 0, p.stderr
    second = _manifest(out)
    assert second["config"] != first["config"]
    assert second["summary"]["reused"] == 0 and second["summary"]["frames_scored"] == 24
    assert "replacing the output of 1 video(s) scored with another configuration (%s" % first["config"] in p.stderr


def test_a_file_without_a_keyframe_table_is_scored_to_its_end(shared, tmp_path):
    """An MPEG-1 program stream of 120 frames whose container says 119: all 120 are scored, as detect reads them;
    the progress bar counts it by that estimate (not as 0 frames)."""
    import cv2
    clip = _clip(shared, tmp_path / "clip.mpg", 120, fourcc="PIM1")
    assert int(cv2.VideoCapture(clip).get(cv2.CAP_PROP_FRAME_COUNT)) == 119  # the container's estimate
    out = tmp_path / "out"
    p = run_cli("score", clip, "--out", out, env={"TRAFFICPIPE_PROGRESS": "1"})
    assert p.returncode == 0, p.stderr
    assert " 0/119 " in p.stderr.replace("\r", "\n"), p.stderr
    man = _manifest(out)
    assert man["videos"][0]["frames"] == 120 and man["summary"]["frames_scored"] == 120


def test_the_manifest_keeps_the_videos_of_earlier_runs(shared, tmp_path):
    """a.mp4 scored, then b.mp4 into the same folder: the manifest still lists a.mp4 as it was (and a later run
    naming it reuses it)."""
    a = _clip(shared, tmp_path / "a.mp4", 12)
    b = _clip(shared, tmp_path / "b.mp4", 12)
    out = tmp_path / "out"
    assert run_cli("score", a, "--out", out, "--no-progress").returncode == 0
    first = _manifest(out)["videos"][0]
    p = run_cli("score", b, "--out", out, "--no-progress")
    assert p.returncode == 0, p.stderr
    man = _manifest(out)
    assert sorted(os.path.basename(v["path"]) for v in man["videos"]) == ["a.mp4", "b.mp4"]
    assert [v for v in man["videos"] if v["path"] == a] == [first]
    assert man["summary"]["videos"] == 1


def _listed_ok(out, path):
    try:
        return any(v["path"] == path and v["status"] == "ok" for v in _manifest(out)["videos"])
    except (IOError, OSError, ValueError, KeyError):  # not written yet
        return False


def test_a_stopped_run_lists_the_videos_it_finished_and_leaves_no_segment_of_them(shared, tmp_path):
    """Ctrl-C after the first of three videos is merged: the manifest says it is ok (with its output) at once, not
    only at the end of the run, and no segment folder of it is left beside its file."""
    import signal
    clips = [_clip(shared, tmp_path / ("v%d.mp4" % k), 36) for k in range(3)]
    out = tmp_path / "out"
    p = start_cli("score", *clips, "--out", out, "--segment-frames", "12", "--model", "picodet-s-320", "--no-progress")
    try:
        deadline = time.time() + 120
        while time.time() < deadline and p.poll() is None and not _listed_ok(out, clips[0]):
            time.sleep(0.05)
        assert p.poll() is None  # v0 is listed as ok while the run goes on
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err
    man = _manifest(out)
    v0 = [v for v in man["videos"] if v["path"] == clips[0]][0]
    assert v0["status"] == "ok" and v0["output"].startswith("v0-") and man.get("interrupted") is True
    assert [n for n in os.listdir(str(out / "segments" / man["config"])) if n.startswith("v0-")] == []


def test_a_video_whose_file_was_put_in_place_but_not_recorded_is_reused_from_its_file(shared, tmp_path):
    """A stop between a video's merge putting its file in place and the manifest recording it leaves the entry
    `running` beside a whole file: the next run takes it as done (reused, nothing scored) with what the file holds."""
    a = _clip(shared, tmp_path / "a.mp4", 24)
    out = tmp_path / "out"
    assert run_cli("score", a, "--out", out, "--segment-frames", "12", "--no-progress").returncode == 0
    man = _manifest(out)
    done = dict(man["videos"][0])
    for v in man["videos"]:
        v.update(status="running", seconds=0.0)
        for k in ("output", "detections", "bytes"):
            v.pop(k, None)
    (out / "manifest.json").write_text(json.dumps(man))
    p = run_cli("score", a, "--out", out, "--segment-frames", "12", "--no-progress")
    assert p.returncode == 0, p.stderr
    again = _manifest(out)
    assert again["summary"]["reused"] == 1 and again["summary"]["frames_scored"] == 0
    v = again["videos"][0]
    assert v["status"] == "ok" and v["reused"] is True
    assert [v[k] for k in ("output", "frames", "detections", "bytes")] == \
        [done[k] for k in ("output", "frames", "detections", "bytes")]


def test_a_changed_file_a_foreign_manifest_and_a_list_that_is_no_text_each_say_so(shared, tmp_path):
    a = _clip(shared, tmp_path / "a.mp4", 12)
    out = tmp_path / "out"
    assert run_cli("score", a, "--out", out, "--no-progress").returncode == 0
    _clip(shared, a, 24)  # the same file, other content
    p = run_cli("score", a, "--out", out, "--no-progress")
    assert p.returncode == 0 and "replacing the output of 1 video(s) whose file changed since it was scored" in \
        p.stderr, p.stderr
    assert _manifest(out)["videos"][0]["frames"] == 24
    (out / "manifest.json").write_text("[1, 2]")
    assert one_error_line(run_cli("score", a, "--out", out)) == "trafficpipe: error: %s is not a trafficpipe score " \
        "manifest (unreadable JSON or other fields); move it or choose another --out" % (out / "manifest.json")
    assert (out / "manifest.json").read_text() == "[1, 2]"
    listing = tmp_path / "videos.txt"
    listing.write_bytes(b"\xff\xfe\x00a\x00.mp4\n")
    assert one_error_line(run_cli("score", listing, "--out", tmp_path / "o2")) == "trafficpipe: error: list file " \
        "%s is not UTF-8 text (one video path per line)" % listing
    listing.write_text("missing.mp4\n")
    assert one_error_line(run_cli("score", listing, "--out", tmp_path / "o2")) == "trafficpipe: error: source " \
        "missing.mp4 does not exist (listed in %s)" % listing


def test_a_symlink_counts_once_and_a_run_without_workers_leaves_no_folder(shared, tmp_path):
    from trafficpipe.scale.inputs import expand_sources
    a = _clip(shared, tmp_path / "a.mp4", 12)
    os.symlink(a, str(tmp_path / "link.mp4"))
    assert expand_sources([a, str(tmp_path / "link.mp4")]) == [a]
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    p = run_cli("score", a, "--out", tmp_path / "o", "--model", bad)  # no detector to score with
    assert p.returncode == 2 and str(bad) in one_error_line(p), p.stderr
    assert not (tmp_path / "o").exists()


def test_globs_name_folders_and_skip_files_that_are_no_video(tmp_path):
    from trafficpipe.errors import SourceError
    from trafficpipe.scale.inputs import expand_sources
    for cam in ("cam1", "cam2"):
        (tmp_path / cam).mkdir()
        (tmp_path / cam / "x.mp4").write_bytes(b"")
        (tmp_path / cam / "x.srt").write_text("1\n")
    want = [str(tmp_path / "cam1" / "x.mp4"), str(tmp_path / "cam2" / "x.mp4")]
    assert expand_sources([str(tmp_path / "cam*") + "/"]) == want
    assert expand_sources([str(tmp_path / "cam*" / "*")]) == want
    listing = tmp_path / "list.txt"
    listing.write_text("cam*/\n")
    assert expand_sources([str(listing)]) == want
    (tmp_path / "outer.txt").write_text("list.txt\n")
    with pytest.raises(SourceError, match="list.txt is a list file named in another list; lists do not nest"):
        expand_sources([str(tmp_path / "outer.txt")])


@pytest.mark.parametrize("args, message", [
    (["--out", ""], "argument --out: expected a value"),
    (["--out", "o", "--ray", ""], "argument --ray: expected a value"),
    (["--out", "o", "--set", "out=elsewhere"], "--set out: --out is a main option"),
    (["--out", "o", "--ray", "admin:hunter2@127.0.0.1:1"], "a Ray address holds no user name or password"),
])
def test_bad_out_ray_and_set_values_are_one_line(shared, tmp_path, args, message):
    """Refused before anything is written; with --debug too, the Ray address's password appears nowhere."""
    clip = _clip(shared, tmp_path / "clip.mp4", 2)
    p = run_cli("score", clip, *args, "--no-progress", cwd=str(tmp_path))
    assert p.returncode == 2
    assert message in one_error_line(p)
    p = run_cli("score", clip, *args, "--no-progress", "--debug", cwd=str(tmp_path))
    assert p.returncode == 2 and message in p.stderr
    assert "hunter2" not in p.stderr + p.stdout
    assert os.listdir(str(tmp_path)) == ["clip.mp4"]


def test_a_url_source_is_named_plainly(tmp_path):
    p = run_cli("score", "rtsp://user:secret@cam/x", "--out", tmp_path / "o", "--no-progress")
    assert p.returncode == 2
    assert one_error_line(p).endswith("score reads video files on a shared file system; rtsp://... is a URL")


def test_a_ray_address_where_another_service_listens_is_one_line_at_once(shared, tmp_path):
    """An HTTP server (the dashboard port given by mistake) at --ray: one line within seconds, not minutes of
    retries."""
    pytest.importorskip("ray")
    from cli_helpers import free_port
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t_end = time.time() + 20
        while time.time() < t_end:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                time.sleep(0.2)
        clip = _clip(shared, tmp_path / "clip.mp4", 2)
        t0 = time.time()
        p = run_cli("score", clip, "--out", tmp_path / "o", "--ray", "127.0.0.1:%d" % port, "--no-progress",
                    timeout=60)
        assert p.returncode == 2
        assert "does not speak gRPC" in one_error_line(p)
        assert time.time() - t0 < 30
    finally:
        server.kill()
        server.wait()
