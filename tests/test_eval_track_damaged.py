"""eval-track on a sequence with a frame image unreadable or missing: every other frame keeps its number (no shift of
the later frames), the damage is counted in report.json and in the last line, and the run exits 3."""
import json
import os
import shutil

import numpy as np
import pytest

from cli_helpers import run_cli

FRAMES = 8


def _seq(shared, tmp_path, name, damage=None):
    src = os.path.join(shared, "data", "tracking", "pets09_s3mf1")
    dst = tmp_path / name
    (dst / "img1").mkdir(parents=True)
    shutil.copy(os.path.join(src, "seqinfo.ini"), str(dst / "seqinfo.ini"))
    shutil.copytree(os.path.join(src, "gt"), str(dst / "gt"))
    for k in range(1, FRAMES + 1):
        shutil.copy(os.path.join(src, "img1", "%06d.jpg" % k), str(dst / "img1"))
    if damage == "junk":
        (dst / "img1" / "000003.jpg").write_bytes(b"junk, not a JPEG\n")
    elif damage == "missing":
        (dst / "img1" / "000003.jpg").unlink()
    return dst


def _run(seq, out):
    r = run_cli("eval-track", seq, "--out", out, "--max-frames", FRAMES, "--no-progress")
    rep = None
    if os.path.exists(str(out / "report.json")):
        with open(str(out / "report.json")) as f:
            rep = json.load(f)
    return r, rep


@pytest.fixture(scope="module")
def clean(shared, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clean")
    r, rep = _run(_seq(shared, tmp, "seq"), tmp / "out")
    assert r.returncode == 0, r.stderr
    return rep


@pytest.mark.parametrize("damage,why", [("junk", "unreadable"), ("missing", "missing")])
def test_damaged_frame_keeps_frame_numbers_and_exits_3(shared, tmp_path, clean, damage, why):
    seq = _seq(shared, tmp_path, "seq", damage)
    r, rep = _run(seq, tmp_path / "out")
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("trafficpipe: error: seq: 1 of 8 frames %s" % why) and "frame 3" in last, r.stderr
    run = rep["sequences"]["seq"]
    assert run["frames"] == FRAMES and run["frames_decoded"] == FRAMES - 1 and run["unreadable"] == 1
    assert run["unreadable_frames"] == [{"frame": 3, "why": why}]
    assert "seq tracked (8 frames; 1 missing or unreadable" in r.stderr
    dets = np.loadtxt(str(tmp_path / "out" / "dets" / "seq.txt"), delimiter=",")
    assert sorted(set(dets[:, 0].astype(int).tolist())) == [1, 2, 4, 5, 6, 7, 8]
    # one frame without detections costs a little, not the ~15 HOTA points of frames shifted by one
    assert rep["scores"]["seq"]["HOTA"] > clean["scores"]["seq"]["HOTA"] - 3, (rep["scores"], clean["scores"])


def test_no_frame_images_at_all_is_a_usage_error(shared, tmp_path):
    seq = _seq(shared, tmp_path, "seq")
    for f in os.listdir(str(seq / "img1")):
        os.remove(str(seq / "img1" / f))
    r, rep = _run(seq, tmp_path / "out")
    assert r.returncode == 2 and rep is None, r.stderr
    errors = [l for l in r.stderr.splitlines() if l.startswith("trafficpipe: error:")]
    assert len(errors) == 1 and "none of its 8 frames found in img1/" in errors[0], r.stderr
