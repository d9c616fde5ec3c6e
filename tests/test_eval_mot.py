"""`trafficpipe eval` on MOTChallenge sequences: the real PETS 2009 S3-MF1 frames (pedestrians only), sequences
without frames left out, and bad sequences ending in one line."""
import json
import os
import shutil

import numpy as np
import pytest

from cli_helpers import run_cli
from trafficpipe.errors import DatasetError
from trafficpipe.eval.motchallenge import load_mot
from trafficpipe.eval.sets import load_labeled_set
from trafficpipe.tracking.motdata import read_mot_rows


@pytest.fixture(scope="module")
def pets(shared):
    return os.path.join(shared, "data", "tracking", "pets09_s3mf1")


def test_pets_frames_and_boxes_as_the_gt_file_has_them(pets):
    ds = load_labeled_set(pets)
    assert len(ds) == 107 and ds.sources == ["PETS09-S3MF1"] and ds.classes == ("pedestrian",)
    assert sum(len(im.class_ids) for im in ds.images) == 620
    first = ds.images[0]
    assert first.path.endswith(os.path.join("img1", "000001.jpg")) and first.width == 768 and first.height == 576
    # gt line 1: 1,1,682.07,285.96,34.32,102.25,1,...  (x, y top-left, w, h)
    rows = read_mot_rows(os.path.join(pets, "gt", "gt.txt"), what="ground truth")
    r = rows[(rows[:, 0] == 1) & (rows[:, 1] == 1)][0]
    want = [r[2], r[3], r[2] + r[4], r[3] + r[5]]
    assert any(np.allclose(b, want) for b in first.boxes)
    assert all(im.exhaustive == frozenset([1]) for im in ds.images)  # pedestrian only


def test_a_folder_of_sequences_leaves_out_those_without_frames(shared, tmp_path, pets):
    # the shared tracking folder: pets09 has frames, mot17's sequences have gt only
    ds = load_mot(os.path.join(shared, "data", "tracking"))
    assert ds.sources == ["PETS09-S3MF1"] and len(ds) == 107
    assert ds.images[0].image == os.path.join("pets09_s3mf1", "img1", "000001.jpg")
    with pytest.raises(DatasetError, match="no img1/ frames"):
        load_mot(os.path.join(shared, "data", "tracking", "mot17", "MOT17-02-FRCNN"))


def test_mot17_class_column_keeps_pedestrians_and_ignores_distractors(tmp_path, pets):
    seq = tmp_path / "seq"
    (seq / "gt").mkdir(parents=True)
    (seq / "img1").mkdir()
    shutil.copy(os.path.join(pets, "img1", "000001.jpg"), str(seq / "img1" / "000001.jpg"))
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=S\nimDir=img1\nframeRate=7\nseqLength=1\nimWidth=768\n"
                                     "imHeight=576\nimExt=.jpg\n")
    (seq / "gt" / "gt.txt").write_text("1,1,10,10,20,40,1,1,1.0\n1,2,50,10,20,40,0,1,0.2\n1,3,90,10,20,40,1,7,1\n"
                                       "1,4,200,10,80,40,0,3,1\n")
    im = load_labeled_set(str(seq)).images[0]
    assert im.boxes.tolist() == [[10, 10, 30, 50], [50, 10, 70, 50]]
    assert im.difficult.tolist() == [False, True]  # consider 0: neither hit nor miss
    assert im.ignore_regions.tolist() == [[90, 10, 110, 50]]  # static person (7); the car (3) is not scored


def _bad_sequences(tmp, pets):
    no_ini = os.path.join(tmp, "no_ini")
    shutil.copytree(pets, no_ini)
    os.remove(os.path.join(no_ini, "seqinfo.ini"))
    yield no_ini, "has no seqinfo.ini"
    bad_gt = os.path.join(tmp, "bad_gt")
    shutil.copytree(pets, bad_gt)
    with open(os.path.join(bad_gt, "gt", "gt.txt"), "a") as f:
        f.write("3,9,12.5,oops,4,4,1,0,0,0\n")
    yield bad_gt, "gt.txt line 621: not comma-separated numbers"
    short = os.path.join(tmp, "short")
    shutil.copytree(pets, short)
    with open(os.path.join(short, "gt", "gt.txt"), "a") as f:
        f.write("3,9,12.5,4\n")
    yield short, "line 621: 4 values, expected at least 7 (frame,id,x,y,w,h,consider"


def test_bad_sequences_end_in_one_line(tmp_path, pets):
    for path, words in _bad_sequences(str(tmp_path), pets):
        proc = run_cli("eval", path, "--out", str(tmp_path / "out"), "--no-progress")
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
        assert words in lines[-1], lines


def test_eval_scores_pets_pedestrians_with_box_counts_by_source(pets, tmp_path):
    """The default model on the first 30 frames: pedestrians found (AP50 far above chance; 0.963 on all 107)."""
    out = str(tmp_path / "ev")
    proc = run_cli("eval", pets, "--limit", "30", "--out", out, "--no-plots", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    rep = json.load(open(os.path.join(out, "report.json")))
    ped = rep["classes"]["pedestrian"]
    assert list(rep["classes"]) == ["pedestrian"] and ped["gt"] == 90
    assert ped["ap50"] > 0.85
    assert rep["sources"]["PETS09-S3MF1"]["classes"]["pedestrian"]["gt"] == 90
    assert "(90)" in proc.stdout
