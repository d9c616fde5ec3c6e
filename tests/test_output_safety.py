"""Outputs never land on inputs, a re-run leaves no file of an earlier one behind, and frames lost to damage within
what a run read end in exit 3 — each on real videos and images of the shared data, copied into tmp_path."""
import glob
import hashlib
import json
import os
import shutil

import cv2
import pytest

from cli_helpers import damaged_copy, one_error_line, run_cli
from trafficpipe.sources.images import jpeg_cut_short, read_image

MODEL = "picodet-s-320"


def digest(folder):
    """{relative path: md5} of every file under `folder` (hidden ones too)."""
    out = {}
    for d, _, files in os.walk(str(folder)):
        for f in files:
            path = os.path.join(d, f)
            out[os.path.relpath(path, str(folder))] = hashlib.md5(open(path, "rb").read()).hexdigest()
    return out


def image_set(shared, folder, n):
    """`folder` holding copies of the first `n` KITTI images of traffic-dev (wide frames: tiled, as users run them)."""
    os.makedirs(str(folder))
    for src in sorted(glob.glob(os.path.join(shared, "data", "traffic-dev", "images", "kitti", "*.jpg")))[:n]:
        shutil.copy(src, str(folder))
    return folder


def files(folder):
    return sorted(os.path.relpath(p, str(folder)) for p in glob.glob(os.path.join(str(folder), "**", "*"),
                                                                      recursive=True) if os.path.isfile(p))


# -- 1. no output on an input -----------------------------------------------------------------------------------------
def test_detect_refuses_to_write_over_its_input_video(video_360p, tmp_path):
    own = tmp_path / "self"
    own.mkdir()
    shutil.copy(video_360p, str(own / "clip.mp4"))
    before = digest(own)
    p = run_cli("detect", own / "clip.mp4", "--out", own, "--max-frames", "5", "--model", MODEL)
    assert p.returncode == 2, p.stderr
    assert one_error_line(p) == ("trafficpipe: error: --out %s would overwrite the input %s; choose another output "
                                 "folder" % (own, own / "clip.mp4"))
    assert digest(own) == before  # nothing written, not even a hidden partial file
    p = run_cli("detect", "replay://%s" % (own / "clip.mp4"), "--out", own, "--max-frames", "5", "--model", MODEL)
    assert p.returncode == 2 and "would overwrite the input" in one_error_line(p)
    # --processes: the parent checks every source before any process starts
    other = tmp_path / "other.mp4"
    shutil.copy(video_360p, str(other))
    p = run_cli("detect", other, own / "clip.mp4", "--out", own, "--processes", "2", "--max-frames", "5",
                "--model", MODEL)
    assert p.returncode == 2 and "would overwrite the input" in one_error_line(p), p.stderr
    assert digest(own) == before
    # outputs beside the input under other names are fine
    p = run_cli("detect", own / "clip.mp4", "--out", own, "--save", "jsonl", "--max-frames", "3", "--model", MODEL)
    assert p.returncode == 0, p.stderr
    assert digest(own)["clip.mp4"] == before["clip.mp4"] and sorted(os.listdir(str(own))) == ["clip.jsonl", "clip.mp4"]


@pytest.mark.parametrize("where,why", [("parent", "overwrite the input"), ("itself", "write into the input folder"),
                                       ("inside", "write into the input folder"),
                                       ("holder", "replace the folder")])
def test_detect_refuses_outputs_on_or_in_an_input_image_folder(shared, tmp_path, where, why):
    if where == "holder":  # a glob of p/x/clip/*.jpg is named "clip": its images would go to p/x/clip/, their folder
        clip = image_set(shared, tmp_path / "p" / "x" / "clip", 3)
        src, out = str(clip / "*.jpg"), tmp_path / "p" / "x"
    else:
        clip = image_set(shared, tmp_path / "p" / "clip", 3)
        src, out = clip, {"parent": tmp_path / "p", "itself": clip, "inside": clip / "out"}[where]
    before = digest(tmp_path / "p")
    p = run_cli("detect", src, "--out", out, "--model", MODEL)
    assert p.returncode == 2, p.stderr
    line = one_error_line(p)
    assert line.startswith("trafficpipe: error: --out %s would %s" % (out, why)), line
    assert line.endswith("; choose another output folder")
    assert digest(tmp_path / "p") == before
    assert not os.path.exists(str(clip / "out"))  # the output folder made for the lock is gone again


# -- 2. a re-run replaces, leaving nothing of the earlier run -----------------------------------------------------
def test_rerun_with_fewer_images_leaves_only_the_new_outputs(shared, tmp_path):
    clip = image_set(shared, tmp_path / "clip", 3)
    out = tmp_path / "out"
    p = run_cli("detect", clip, "--out", out, "--save", "images,jsonl,txt", "--model", MODEL)
    assert p.returncode == 0, p.stderr
    assert files(out / "clip") == ["000000.jpg", "000001.jpg", "000002.jpg"]
    assert files(out / "detection-results") == ["000000.txt", "000001.txt", "000002.txt"]
    os.remove(str(clip / "000002.jpg"))
    p = run_cli("detect", clip, "--out", out, "--save", "images,jsonl,txt", "--model", MODEL)
    assert p.returncode == 0, p.stderr
    assert "replacing 3 existing outputs" in p.stderr and "clip/" in p.stderr
    assert files(out / "clip") == ["000000.jpg", "000001.jpg"]
    assert files(out / "detection-results") == ["000000.txt", "000001.txt"]
    assert len(open(str(out / "clip.jsonl")).read().splitlines()) == 2
    assert sorted(os.listdir(str(out))) == ["clip", "clip.jsonl", "detection-results"]  # no staging folder left


def test_rerun_of_several_image_sets_keeps_each_sets_detection_results_apart(shared, tmp_path):
    a, b = image_set(shared, tmp_path / "a", 3), image_set(shared, tmp_path / "b", 2)
    out = tmp_path / "out"
    for save in ("txt,images",):  # the txt sink closing first (it shares the image set's folder)
        p = run_cli("detect", a, b, "--out", out, "--save", save, "--model", MODEL)
        assert p.returncode == 0, p.stderr
        assert files(out / "a") == ["000000.jpg", "000001.jpg", "000002.jpg", "detection-results/000000.txt",
                                    "detection-results/000001.txt", "detection-results/000002.txt"]
        os.remove(str(a / "000002.jpg"))
        p = run_cli("detect", a, b, "--out", out, "--save", save, "--model", MODEL)
        assert p.returncode == 0, p.stderr
        assert files(out / "a") == ["000000.jpg", "000001.jpg", "detection-results/000000.txt",
                                    "detection-results/000001.txt"]
        assert len(files(out / "b")) == 4
        assert not [n for n in os.listdir(str(out / "a")) + os.listdir(str(out)) if n.startswith(".")]
        shutil.copy(str(a / "000001.jpg"), str(a / "000002.jpg"))
    # images only: the txt output of the earlier run (another output kind) stays, the images are replaced
    p = run_cli("detect", a, b, "--out", out, "--save", "images", "--model", MODEL)
    assert p.returncode == 0, p.stderr
    assert files(out / "a") == ["000000.jpg", "000001.jpg", "000002.jpg", "detection-results/000000.txt",
                                "detection-results/000001.txt"]


def test_txt_results_land_under_a_relative_out_folder(shared, tmp_path):
    """`--out res` given relative to the working folder (as users type it): one image set's txt files go to
    res/detection-results/, those of two sets to res/<set>/detection-results/, never under res/res/."""
    a, b = image_set(shared, tmp_path / "a", 2), image_set(shared, tmp_path / "b", 1)
    p = run_cli("detect", "a", "--out", "res", "--save", "jsonl,txt", "--model", MODEL, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert files(tmp_path / "res") == ["a.jsonl", "detection-results/000000.txt", "detection-results/000001.txt"]
    p = run_cli("detect", "a", "b", "--out", "res2/", "--save", "txt", "--model", MODEL, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert files(tmp_path / "res2") == ["a/detection-results/000000.txt", "a/detection-results/000001.txt",
                                        "b/detection-results/000000.txt"]


def test_a_run_that_writes_no_image_leaves_the_earlier_folder_as_it_was(shared, tmp_path):
    clip = image_set(shared, tmp_path / "clip", 2)
    out = tmp_path / "out"
    assert run_cli("detect", clip, "--out", out, "--save", "images", "--model", MODEL).returncode == 0
    before = digest(out / "clip")
    for f in os.listdir(str(clip)):  # every image now cut short
        data = open(str(clip / f), "rb").read()
        open(str(clip / f), "wb").write(data[:3000])
    p = run_cli("detect", clip, "--out", out, "--save", "images", "--model", MODEL)
    assert p.returncode == 3, p.stderr
    assert digest(out / "clip") == before


def test_eval_rerun_replaces_its_outputs_and_says_so(dev_set, tmp_path):
    out = tmp_path / "e1"
    p = run_cli("eval", dev_set, "--out", out, "--limit", "4", "--model", MODEL)
    assert p.returncode == 0, p.stderr
    assert len(os.listdir(str(out / "detection-results"))) == 4
    first = sorted(os.listdir(str(out)))
    assert "report.json" in first and "table.txt" in first
    p = run_cli("eval", dev_set, "--out", out, "--limit", "2", "--no-plots", "--model", MODEL)
    assert p.returncode == 0, p.stderr
    lines = [l for l in p.stderr.splitlines() if "replacing" in l]
    assert len(lines) == 1 and "INFO" in lines[0], p.stderr
    assert "replacing %d existing outputs in %s: detection-results/" % (len(first), out) in lines[0]
    assert len(os.listdir(str(out / "detection-results"))) == 2
    assert sorted(os.listdir(str(out))) == ["detection-results", "report.json", "table.txt"]  # stale plots gone
    assert json.load(open(str(out / "report.json")))["images"] == 2


# -- 3. frames lost to damage within what was read: exit 3 -----------------------------------------------------------
def first_bad_frame(path):
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


@pytest.mark.parametrize("workers", ["1", "2"])
def test_damage_within_max_frames_ends_in_exit_3_with_the_count(video_360p, tmp_path, workers):
    bad = damaged_copy(video_360p, tmp_path, "early.mp4", start=0.2, end=0.35)
    k = first_bad_frame(bad)
    assert 10 < k < 200
    out = tmp_path / "out"
    p = run_cli("detect", bad, "--out", out, "--save", "jsonl", "--max-frames", str(k + 20), "--model", MODEL,
                "--decode-workers", workers)
    assert p.returncode == 3, p.stderr
    frames = [json.loads(l)["frame"] for l in open(str(out / "early.jsonl"))]
    written = len(frames)
    assert frames[:k] == list(range(k)) and written <= k
    lost = k + 20 - written
    assert "%d unreadable (skipped)" % lost in p.stderr
    assert one_error_line(p).startswith("trafficpipe: error: early: %d of %d frames decoded; unreadable: frames %d-%d"
                                        % (written, k + 20, written, k + 19))
    p = run_cli("detect", bad, "--out", out, "--save", "jsonl", "--max-frames", str(written), "--model", MODEL,
                "--decode-workers", workers)
    assert p.returncode == 0, p.stderr  # the damage lies past what was read
    assert "unreadable" not in p.stderr


def test_truncated_jpeg_is_skipped_and_counted(shared, tmp_path):
    clip = image_set(shared, tmp_path / "clip", 3)
    data = open(str(clip / "000001.jpg"), "rb").read()
    open(str(clip / "000001.jpg"), "wb").write(data[:3000])  # head -c 3000
    out = tmp_path / "out"
    p = run_cli("detect", clip, "--out", out, "--model", MODEL)
    assert p.returncode == 3, p.stderr
    assert "Premature end of JPEG file" not in p.stderr
    assert "cannot read image %s (the JPEG is cut short: damaged or truncated); skipped" % (clip / "000001.jpg") \
        in p.stderr
    assert "1 unreadable (skipped)" in p.stderr
    assert one_error_line(p).startswith("trafficpipe: error: clip: 1 of 3 images unreadable, skipped: ")
    assert files(out / "clip") == ["000000.jpg", "000002.jpg"]
    assert [json.loads(l)["frame"] for l in open(str(out / "clip.jsonl"))] == [0, 2]  # frame numbers are image numbers
    # within --max-frames too
    p = run_cli("detect", clip, "--out", tmp_path / "o2", "--max-frames", "1", "--model", MODEL)
    assert p.returncode == 0, p.stderr  # the damaged image lies past what was read
    p = run_cli("detect", clip, "--out", tmp_path / "o2", "--max-frames", "2", "--model", MODEL)
    assert p.returncode == 3 and "1 unreadable (skipped)" in p.stderr, p.stderr
    # a PNG whose header check passes but whose chunks are garbage: our line only, not OpenCV's own [ERROR] line
    png = tmp_path / "broken.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200 + b"IEND\xaeB`\x82")
    p = run_cli("detect", png, "--out", tmp_path / "o3", "--model", MODEL)
    assert p.returncode == 3 and "[ERROR" not in p.stderr and "IHDR" not in p.stderr, p.stderr
    assert "cannot read image %s (unreadable or not an image); skipped" % png in p.stderr


def test_jpeg_cut_short_tells_whole_files_from_cut_ones(shared, tmp_path):
    paths = sorted(glob.glob(os.path.join(shared, "data", "traffic-dev", "images", "*", "*.jpg")))[::25]
    for path in paths:
        data = open(path, "rb").read()
        assert not jpeg_cut_short(data), path
        assert jpeg_cut_short(data[:len(data) // 2]) and jpeg_cut_short(data[:3000]), path
        assert not jpeg_cut_short(data + b"\0" * 16)  # bytes after the end-of-image marker are harmless
        img, why = read_image(path)
        assert why is None and (img == cv2.imread(path)).all()
    png = str(tmp_path / "x.png")
    cv2.imwrite(png, cv2.imread(paths[0]))
    assert not jpeg_cut_short(open(png, "rb").read()) and read_image(png)[1] is None
    open(png, "wb").write(open(png, "rb").read()[:2000])
    assert read_image(png) == (None, "unreadable or not an image")


# -- outputs that do not fit, a disk that fills up ----------------------------------------------------------------------
def test_outputs_that_write_nothing_for_a_source_are_refused(shared, tmp_path):
    video = os.path.join(shared, "videos", "highway-360p.mp4")
    clip = image_set(shared, tmp_path / "clip", 1)
    for sources, save, message in (
            ([video], "images", "--save images writes nothing for highway-360p: a video's or stream's annotated "
                                "frames are saved as video"),
            ([clip], "video", "--save video writes nothing for clip: an image set's annotated frames are saved as "
                              "images"),
            ([video], "video,images", "--save images: no source of this run is an image set")):
        p = run_cli("detect", *(sources + ["--out", tmp_path / "out", "--save", save, "--model", MODEL]))
        assert p.returncode == 2 and message in one_error_line(p)
        assert not (tmp_path / "out").exists()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="mounts a small tmpfs (needs root)")
def test_a_full_disk_keeps_the_earlier_video_and_whole_json_lines(shared, tmp_path):
    """On a 300 kB file system a 5-frame run fits and a 30-frame one does not: the run ends in one line (exit 2)
    naming the output; the earlier video is kept (OpenCV's writer says nothing of a full disk: the new one does not
    read back), the JSON lines end in a whole line."""
    import subprocess
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.call(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(small)]) != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        video = os.path.join(shared, "videos", "highway-360p.mp4")
        out = small / "o"
        assert run_cli("detect", video, "--out", out, "--max-frames", 5, "--model", MODEL).returncode == 0
        before = open(str(out / "highway-360p.mp4"), "rb").read()
        for save, message in (("video,jsonl", "cannot write %s: No space left on device" % (out / "highway-360p.jsonl")),
                              ("video", "cannot write video %s: it does not read back (is the disk full?); the earlier "
                                        "one is kept" % (out / "highway-360p.mp4"))):
            p = run_cli("detect", video, "--out", out, "--max-frames", 30, "--save", save, "--model", MODEL,
                        "--no-progress")
            assert p.returncode == 2 and message in one_error_line(p)
            assert open(str(out / "highway-360p.mp4"), "rb").read() == before
            assert [json.loads(l)["frame"] for l in open(str(out / "highway-360p.jsonl"))][:5] == list(range(5))
        assert not [n for n in os.listdir(str(out)) if n.startswith(".")]
    finally:
        subprocess.call(["umount", str(small)])
