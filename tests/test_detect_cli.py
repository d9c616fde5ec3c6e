"""`trafficpipe detect` end to end on real files, and every bad input as one line on stderr with a non-zero exit."""
import json
import os
import shutil

import cv2
import pytest

from cli_helpers import damaged_copy, run_cli


def count_frames(path):
    cap = cv2.VideoCapture(path)
    n = 0
    while cap.read()[0]:
        n += 1
    return n, cap.get(cv2.CAP_PROP_FPS), (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))


def one_error_line(proc):
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    errors = [l for l in lines if l.startswith("trafficpipe: error:")]
    assert len(errors) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return errors[0]


@pytest.mark.slow
def test_detect_highway_720p_writes_every_frame(video_720p, tmp_path):
    """The README's main command on the first 150 frames of the 720p clip (every frame of a whole clip: the Python
    3.6 smoke run and tests/test_pipeline.py)."""
    p = run_cli("detect", video_720p, "--out", tmp_path, "--threads", "2", "--max-frames", "150")
    assert p.returncode == 0, p.stderr
    assert "150 frames written in" in p.stderr
    n, fps, size = count_frames(str(tmp_path / "highway-720p.mp4"))
    assert (n, size) == (150, (1280, 720)) and fps == pytest.approx(29.97, abs=0.01)
    recs = [json.loads(l) for l in (tmp_path / "highway-720p.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in recs] == list(range(150))
    assert recs[10]["t"] == pytest.approx(10 / 29.97, abs=1e-3)
    # a busy highway: vehicles in nearly every frame, each with class, score and a box inside the image
    with_cars = sum(1 for r in recs if any(d["cls"] == "vehicle" for d in r["detections"]))
    assert with_cars > 135
    d = recs[0]["detections"][0]
    assert set(d) == {"cls", "score", "box"} and 0 <= d["box"][0] < d["box"][2] <= 1280 and d["score"] >= 0.3


def test_detect_image_folder_writes_images_jsonl_and_txt(dev_set, tmp_path):
    src = tmp_path / "imgs"
    src.mkdir()
    folder = os.path.join(dev_set, "images", "kitti")
    names = sorted(os.listdir(folder))[:3]
    for n in names:
        shutil.copy(os.path.join(folder, n), str(src / n))
    p = run_cli("detect", src, "--out", tmp_path / "out", "--save", "images,jsonl,txt", "--model", "picodet-s-320")
    assert p.returncode == 0, p.stderr
    out = tmp_path / "out"
    assert sorted(os.listdir(str(out / "imgs"))) == sorted(os.path.splitext(n)[0] + ".jpg" for n in names)
    txt = (out / "detection-results" / (os.path.splitext(names[0])[0] + ".txt")).read_text().splitlines()
    assert txt and all(len(l.split()) == 6 for l in txt)
    recs = [json.loads(l) for l in (out / "imgs.jsonl").read_text().splitlines()]
    assert [os.path.basename(r["image"]) for r in recs] == names


def test_files_named_with_glob_or_pipeline_characters_are_read_as_files(video_360p, shared, tmp_path):
    """`clip[1].mp4`, `shot[2].jpg` and `wow!.mp4` exist: each is that file (not a glob, not a GStreamer pipeline),
    also as file://; a recursive glob's root is an input folder that --out may not lie in; csi://x is one line."""
    odd = tmp_path / "odd"
    odd.mkdir()
    shutil.copy(str(video_360p), str(odd / "clip[1].mp4"))
    shutil.copy(str(video_360p), str(odd / "wow!.mp4"))
    shutil.copy(os.path.join(shared, "data", "tracking", "pets09_s3mf1", "img1", "000001.jpg"), str(odd / "shot[2].jpg"))
    p = run_cli("detect", odd / "clip[1].mp4", odd / "shot[2].jpg", "file://%s" % (odd / "wow!.mp4"), "--out",
                tmp_path / "out", "--max-frames", 2, "--save", "jsonl", "--no-progress", "--model", "picodet-s-320")
    assert p.returncode == 0, p.stderr
    assert sorted(os.listdir(str(tmp_path / "out"))) == ["clip_1.jsonl", "shot_2.jsonl", "wow.jsonl"]
    p = run_cli("detect", str(odd / "**" / "*.jpg"), "--out", odd / "out")
    assert p.returncode == 2 and "would write into the input folder %s" % odd in one_error_line(p)
    p = run_cli("detect", "csi://x", "--out", tmp_path / "o2")
    assert p.returncode == 2 and "csi://N takes the camera's sensor number N" in one_error_line(p)


def test_missing_source(tmp_path):
    p = run_cli("detect", tmp_path / "nope.mp4", "--out", tmp_path)
    assert p.returncode == 2 and "does not exist" in one_error_line(p)


def test_file_that_is_not_a_video(shared, tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 100)
    p = run_cli("detect", fake, "--out", tmp_path)
    assert p.returncode == 2 and "not a video" in one_error_line(p)


def test_corrupt_video_writes_what_decodes_then_fails(video_360p, tmp_path):
    bad = damaged_copy(video_360p, tmp_path)  # the last 40% of the picture data destroyed
    p = run_cli("detect", bad, "--out", tmp_path / "out", "--model", "picodet-s-320")
    assert p.returncode == 3
    line = one_error_line(p)
    assert "damaged" in line and "of 341 frames" in line
    n, _, _ = count_frames(str(tmp_path / "out" / "damaged.mp4"))
    assert 100 < n < 341
    assert len((tmp_path / "out" / "damaged.jsonl").read_text().splitlines()) == n


def test_model_that_is_not_onnx(video_360p, tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x00garbage" * 100)
    p = run_cli("detect", video_360p, "--model", bad, "--out", tmp_path)
    assert p.returncode == 2 and "not an ONNX model" in one_error_line(p)


def test_model_with_unexpected_input_shape(video_360p, tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 1, 64, 64])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, 64, 64])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["images"], ["output"])], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "yolox_wrong.onnx"
    onnx.save(model, str(path))
    p = run_cli("detect", video_360p, "--model", path, "--out", tmp_path)
    assert p.returncode == 2 and "unexpected input shape [1, 1, 64, 64]" in one_error_line(p)


def test_missing_model_says_where_it_looked(video_360p, tmp_path):
    p = run_cli("detect", video_360p, "--model", "nosuchmodel", "--out", tmp_path)
    line = one_error_line(p)
    assert p.returncode == 2 and "not found in" in line and "TRAFFICPIPE_MODELS" in line


def test_output_folder_not_writable(video_360p, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    p = run_cli("detect", video_360p, "--out", blocker / "sub", "--model", "picodet-s-320")
    assert p.returncode == 2 and "cannot create output folder" in one_error_line(p)


def test_unknown_class_name(video_360p, tmp_path):
    p = run_cli("detect", video_360p, "--classes", "vehicle,truck", "--out", tmp_path)
    assert p.returncode == 2 and "unknown class name 'truck'" in one_error_line(p)


def test_debug_shows_the_traceback(tmp_path):
    p = run_cli("detect", tmp_path / "nope.mp4", "--out", tmp_path, "--debug")
    assert p.returncode == 2 and "Traceback" in p.stderr


def test_import_needs_no_gpu_modules():
    import subprocess
    import sys
    code = ("import sys, trafficpipe, trafficpipe.cli; bad = [m for m in ('torch', 'tensorrt', 'pycuda', 'jetson_utils',"
            " 'matplotlib') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    assert subprocess.call([sys.executable, "-c", code]) == 0


def test_damage_in_the_middle_with_parallel_decoders(video_360p, tmp_path):
    """Readers of undamaged chunks carry on; the writer skips the unreadable stretch and says which frames it was."""
    bad = damaged_copy(video_360p, tmp_path, "mid.mp4", start=0.5, end=0.6)
    p = run_cli("detect", bad, "--out", tmp_path / "out", "--model", "picodet-s-320", "--decode-workers", "3",
                timeout=120)
    assert p.returncode == 3
    line = one_error_line(p)
    assert "197 of 341 frames decoded; unreadable: frames 156-299" in line
    frames = [json.loads(l)["frame"] for l in (tmp_path / "out" / "mid.jsonl").read_text().splitlines()]
    assert frames == sorted(frames) and frames[0] == 0 and frames[-1] == 340 and 100 < len(frames) < 341
    n, _, _ = count_frames(str(tmp_path / "out" / "mid.mp4"))
    assert n == len(frames)


@pytest.mark.parametrize("extra", ([], ["--decode-processes", "2"]), ids=("in-process", "decode-processes"))
def test_ctrl_c_on_the_command_exits_130_with_playable_outputs(video_720p, tmp_path, extra):
    """SIGINT to a running `trafficpipe detect`: exit 130, one line, the mp4 plays and holds every frame in the jsonl;
    with decoder processes, none is left running and no shared-memory ring is left behind."""
    import signal
    import time
    from cli_helpers import descendants, ring_files, running, start_cli
    proc = start_cli("detect", video_720p, "--out", tmp_path, "--model", "picodet-s-320", *extra)
    jsonl = tmp_path / "highway-720p.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not jsonl.exists() or jsonl.stat().st_size < 20000):
        time.sleep(0.2)
    children = descendants(proc.pid)
    assert children or not extra  # the decoder processes, seen before the signal
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert [l for l in err.splitlines() if l.startswith("trafficpipe:")] == ["trafficpipe: interrupted"]
    lines = jsonl.read_text().splitlines()
    n, _, _ = count_frames(str(tmp_path / "highway-720p.mp4"))
    assert 0 < n == len(lines) < 450
    assert [json.loads(l)["frame"] for l in lines] == list(range(n))
    assert ring_files(proc.pid) == []
    assert running(children) == [], "decoder processes left running"


def test_processes_write_what_one_process_writes(video_360p, shared, tmp_path):
    """--processes 2 deals 3 sources over 2 processes: the same output names (repeats numbered as one process numbers
    them) and the same detections, frame by frame, as a single-process run."""
    street = os.path.join(shared, "videos", "street-540p.mp4")
    srcs = [video_360p, video_360p, street]
    one, two = tmp_path / "one", tmp_path / "two"
    for out, extra in ((one, []), (two, ["--processes", "2"])):
        p = run_cli("detect", *srcs, "--out", out, "--save", "jsonl", "--max-frames", "25", "--threads", "1", *extra)
        assert p.returncode == 0, p.stderr
    names = sorted(os.listdir(str(one)))
    assert names == sorted(os.listdir(str(two))) == ["highway-360p.jsonl", "highway-360p_1.jsonl", "street-540p.jsonl"]
    for name in names:
        a = [json.loads(l) for l in (one / name).read_text().splitlines()]
        b = [json.loads(l) for l in (two / name).read_text().splitlines()]
        assert [r["frame"] for r in b] == list(range(25))
        assert [[d["cls"] for d in r["detections"]] for r in a] == [[d["cls"] for d in r["detections"]] for r in b]
        assert sum(len(r["detections"]) for r in b) > 0


def test_processes_refuse_a_missing_source_at_once_and_name_files_as_one_process(video_360p, tmp_path):
    """A missing file among the sources of --processes 2 is refused before any process starts, as one process refuses
    it; file:// sources of one stem in two folders are named as one process names them (dirA_clip, dirB_clip)."""
    p = run_cli("detect", str(tmp_path / "missing.mp4"), video_360p, "--processes", "2", "--out", tmp_path / "o",
                "--save", "jsonl", "--max-frames", "5")
    assert p.returncode == 2
    assert "missing.mp4 does not exist" in one_error_line(p)
    assert not (tmp_path / "o").exists()
    for d in ("dirA", "dirB"):
        (tmp_path / d).mkdir()
        shutil.copy(str(video_360p), str(tmp_path / d / "clip.mp4"))
    p = run_cli("detect", "file://%s" % (tmp_path / "dirA" / "clip.mp4"), tmp_path / "dirB" / "clip.mp4", "--processes",
                "2", "--out", tmp_path / "o2", "--save", "jsonl", "--max-frames", "2", "--model", "picodet-s-320")
    assert p.returncode == 0, p.stderr
    assert sorted(os.listdir(str(tmp_path / "o2"))) == ["dirA_clip.jsonl", "dirB_clip.jsonl"]


def test_ctrl_c_with_processes_stops_every_process_with_playable_outputs(video_720p, tmp_path):
    """SIGINT to the parent of `--processes 2` alone (as a supervisor would send it): every process closes its outputs
    (each mp4 plays and holds every frame of its jsonl), one 'interrupted' line, exit 130."""
    import signal
    import time
    from cli_helpers import start_cli
    proc = start_cli("detect", video_720p, video_720p, "--processes", "2", "--out", tmp_path, "--model", "picodet-s-320",
                     "--threads", "1")
    outs = [tmp_path / "highway-720p.jsonl", tmp_path / "highway-720p_1.jsonl"]
    deadline = time.time() + 120
    while time.time() < deadline and not all(j.exists() and j.stat().st_size > 10000 for j in outs):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert [l for l in err.splitlines() if l.startswith("trafficpipe:")] == ["trafficpipe: interrupted"]
    for j in outs:
        lines = j.read_text().splitlines()
        n, _, _ = count_frames(str(j)[:-len(".jsonl")] + ".mp4")
        assert 0 < n == len(lines) < 450


def test_processes_show_one_progress_bar_for_all(video_360p, tmp_path):
    p = run_cli("detect", video_360p, video_360p, "--processes", "2", "--out", tmp_path, "--save", "jsonl",
                "--max-frames", "30", env={"TRAFFICPIPE_PROGRESS": "1"})
    assert p.returncode == 0, p.stderr
    assert "60/60" in p.stderr  # both processes' frames, against both processes' totals
