"""Tracking and counting outputs are checked before they are written and never lost: lines and zones outside an image
set's frames or outside one source of a `--processes` run end the run at start in one line; the counts summary is
written aside (an earlier one stays until the new one is complete); a run that reads no frame leaves the earlier
MOT, tracks and counts files as they were; a tracked image set gives one clock in every output; eval-track refuses
rows past a sequence's end and a --max-frames window without ground truth in one line."""
import hashlib
import json
import os
import shutil

import numpy as np

from cli_helpers import one_error_line, run_cli
from trafficpipe.counting import parse_count_specs
from trafficpipe.counting.step import CountStep
from trafficpipe.models.detections import Detections
from trafficpipe.pipeline.frame import Frame


def _pets(shared):
    return os.path.join(shared, "data", "tracking", "pets09_s3mf1", "img1")


def _md5s(folder):
    return dict((n, hashlib.md5(open(os.path.join(folder, n), "rb").read()).hexdigest())
                for n in sorted(os.listdir(folder)) if os.path.isfile(os.path.join(folder, n)))


def test_a_line_outside_an_image_sets_frames_ends_the_run_at_start(shared, tmp_path):
    """The PETS09 frames are 768x576: x=5000 is outside; nothing is written."""
    out = tmp_path / "out"
    p = run_cli("detect", _pets(shared), "--count", "l=0,300,5000,300", "--out", out, "--max-frames", 3,
                "--no-progress")
    assert p.returncode == 2
    assert "outside img1's 768x576 frame" in one_error_line(p)
    assert not out.exists()


def test_processes_check_count_specs_once_before_any_process_starts(shared, video_360p, tmp_path):
    """A malformed spec: one error line (not one per process); a line inside the street clip (960 wide) but outside
    the highway clip (640 wide): refused before either process writes anything."""
    street = os.path.join(shared, "videos", "street-540p.mp4")
    out = tmp_path / "out"
    p = run_cli("detect", video_360p, street, "--count", "l=0,1,2", "--processes", 2, "--out", out,
                "--max-frames", 5, "--no-progress")
    assert p.returncode == 2
    assert "odd number of coordinates" in one_error_line(p)
    p = run_cli("detect", video_360p, street, "--count", "l=0,200,800,200", "--processes", 2, "--out", out,
                "--max-frames", 5, "--no-progress")
    assert p.returncode == 2
    assert "outside highway-360p's 640x360 frame" in one_error_line(p)
    assert not out.exists()


def _count_frame(i, y):
    f = Frame(0, i, 0.0, None, pts=i / 10.0)
    f.detections = Detections(np.array([[90, y - 30, 110, y]], np.float32), np.array([0.9], np.float32),
                              np.array([0], np.int32), np.array([1], np.int64))
    return f


def test_the_counts_summary_replaces_an_earlier_one_only_when_complete(tmp_path):
    """While a run counts, the earlier summary is untouched (a killed run loses nothing); once closed it is the new
    one; a run that counted no frame leaves it as it was; a run that cannot start leaves no partial file."""
    path = tmp_path / "cam.counts.json"
    path.write_text('{"earlier": true}\n')
    regions = parse_count_specs(["gate=0,100,200,100"])
    step = CountStep(regions, str(path), "cam", lambda f: f.pts)
    for i, y in enumerate((60, 80, 120, 140)):
        step.process(_count_frame(i, y))
    assert json.loads(path.read_text()) == {"earlier": True}
    step.close()
    summary = json.loads(path.read_text())
    assert summary["frames"] == 4 and summary["lines"]["gate"]["total"] == 1
    CountStep(regions, str(path), "cam", lambda f: f.pts).close()  # no frame counted
    assert json.loads(path.read_text()) == summary
    CountStep(regions, str(path), "cam", lambda f: f.pts).discard()
    assert sorted(os.listdir(str(tmp_path))) == ["cam.counts.json"]


def test_a_rerun_that_reads_no_frame_keeps_the_earlier_tracking_outputs(shared, tmp_path):
    """30 PETS09 frames tracked and counted; then a set of the same name whose every image is unreadable (exit 3):
    the JSON lines, MOT, tracks and counts files of the first run are all still there, byte for byte."""
    out = tmp_path / "out"
    line = "l=0,300,768,300"
    p = run_cli("detect", _pets(shared), "--count", line, "--max-frames", 30, "--out", out, "--no-progress")
    assert p.returncode == 0, p.stderr
    before = _md5s(str(out))
    assert sorted(before) == ["img1.counts.json", "img1.jsonl", "img1.mot.txt", "img1.tracks.json"]
    bad = tmp_path / "bad" / "img1"
    bad.mkdir(parents=True)
    for i in range(3):
        (bad / ("%06d.jpg" % (i + 1))).write_bytes(b"not an image\n")
    p = run_cli("detect", bad, "--count", line, "--out", out, "--no-progress")
    assert p.returncode == 3
    assert "3 of 3 images unreadable" in one_error_line(p)
    assert _md5s(str(out)) == before
    assert not [n for n in os.listdir(str(out)) if ".partial" in n]


def test_a_tracked_image_set_gives_one_clock_in_every_output(shared, tmp_path):
    """At --track-fps 5 frame k is at k / 5 s in the JSON lines, tracks.json and the zone's dwell rows alike."""
    out = tmp_path / "out"
    p = run_cli("detect", _pets(shared), "--track-fps", 5, "--count", "zone:z=0,0,768,0,768,576,0,576",
                "--max-frames", 11, "--out", out, "--no-progress")
    assert p.returncode == 0, p.stderr
    lines = [json.loads(l) for l in open(str(out / "img1.jsonl"))]
    assert [r["t"] for r in lines] == [round(k / 5.0, 4) for k in range(11)]
    tracks = json.load(open(str(out / "img1.tracks.json")))["tracks"]
    dwell = dict((r["track_id"], r) for r in json.load(open(str(out / "img1.counts.json")))["zones"]["z"]["dwell"])
    assert tracks and dwell
    for t in tracks:
        assert t["first_t"] == round(t["first_frame"] / 5.0, 4) and t["last_t"] == round(t["last_frame"] / 5.0, 4)
        if t["id"] in dwell:
            assert dwell[t["id"]]["last_t"] == t["last_t"]


def _sequence_copy(shared, tmp_path, name):
    src = os.path.join(shared, "data", "tracking", "mot17", "MOT17-02-FRCNN")
    dst = tmp_path / name
    shutil.copytree(src, str(dst))
    return dst


def test_eval_track_refuses_rows_past_the_sequence_end(shared, tmp_path):
    """MOT17-02 has 600 frames: a detection or a ground-truth row at frame 700 is one line, exit 2 (no TrackEval
    traceback), also when --max-frames would have cut it off."""
    seq = _sequence_copy(shared, tmp_path, "pastend")
    with open(str(seq / "det" / "det.txt"), "a") as f:
        f.write("700,-1,1,1,10,10,1\n")
    for extra in ([], ["--max-frames", 50]):
        p = run_cli("eval-track", seq, "--dets", "public", "--out", tmp_path / "o1", *extra)
        assert p.returncode == 2
        assert "detection rows reach frame 700 but the sequence has 600 frames" in one_error_line(p)
    seq = _sequence_copy(shared, tmp_path, "gtpast")
    with open(str(seq / "gt" / "gt.txt"), "a") as f:
        f.write("700,999,1,1,10,10,1,1,1\n")
    p = run_cli("eval-track", seq, "--dets", "public", "--out", tmp_path / "o2")
    assert p.returncode == 2
    assert "ground-truth rows reach frame 700 but the sequence has 600 frames" in one_error_line(p)


def test_eval_track_scores_a_window_without_detections_and_refuses_one_without_ground_truth(shared, tmp_path):
    """Detections only from frame 10 on, scored over frames 1-5: every person missed (HOTA 0), exit 0; ground truth
    only from frame 10 on over frames 1-5: nothing to score, one line, exit 2."""
    seq = _sequence_copy(shared, tmp_path, "latedet")
    det = seq / "det" / "det.txt"
    det.write_text("".join(l for l in open(str(det)) if int(l.split(",")[0]) >= 10))
    p = run_cli("eval-track", seq, "--dets", "public", "--out", tmp_path / "o1", "--max-frames", 5)
    assert p.returncode == 0, p.stderr
    report = json.load(open(str(tmp_path / "o1" / "report.json")))
    assert report["scores"]["latedet"]["HOTA"] == 0.0
    seq = _sequence_copy(shared, tmp_path, "lategt")
    gt = seq / "gt" / "gt.txt"
    gt.write_text("".join(l for l in open(str(gt)) if int(l.split(",")[0]) >= 10))
    p = run_cli("eval-track", seq, "--dets", "public", "--out", tmp_path / "o2", "--max-frames", 5)
    assert p.returncode == 2
    assert "no ground truth in frames 1-5" in one_error_line(p)


def test_eval_track_rerun_leaves_only_its_own_sequence_files(shared, tmp_path):
    """Two sequences scored, then one into the same --out: data/ and gt/ hold only that one, as report.json does."""
    mot17 = os.path.join(shared, "data", "tracking", "mot17")
    out = tmp_path / "out"
    p = run_cli("eval-track", os.path.join(mot17, "MOT17-02-FRCNN"), os.path.join(mot17, "MOT17-09-FRCNN"),
                "--dets", "public", "--out", out, "--max-frames", 20)
    assert p.returncode == 0, p.stderr
    assert sorted(os.listdir(str(out / "data"))) == ["MOT17-02-FRCNN.txt", "MOT17-09-FRCNN.txt"]
    p = run_cli("eval-track", os.path.join(mot17, "MOT17-09-FRCNN"), "--dets", "public", "--out", out,
                "--max-frames", 20)
    assert p.returncode == 0, p.stderr
    assert "removed 2 sequence files of an earlier run" in p.stderr
    assert "eval-track: replacing 3 existing outputs in %s: report.json, data/MOT17-09-FRCNN.txt, " \
           "gt/MOT17-09-FRCNN.txt" % out in p.stderr
    for folder in ("data", "gt"):
        assert os.listdir(str(out / folder)) == ["MOT17-09-FRCNN.txt"]
    assert "MOT17-02-FRCNN" not in json.load(open(str(out / "report.json")))["scores"]
    # a folder where report.json goes, or a file where data/ goes: one line before anything is scored or moved
    before = dict((f, os.path.getmtime(str(out / "gt" / f))) for f in os.listdir(str(out / "gt")))
    os.remove(str(out / "report.json"))
    os.mkdir(str(out / "report.json"))
    p = run_cli("eval-track", os.path.join(mot17, "MOT17-09-FRCNN"), "--dets", "public", "--out", out)
    assert p.returncode == 2 and p.stderr.strip().splitlines()[-1] == "trafficpipe: error: cannot write %s: it " \
        "is a folder; move it or choose another --out" % (out / "report.json"), p.stderr
    assert dict((f, os.path.getmtime(str(out / "gt" / f))) for f in os.listdir(str(out / "gt"))) == before


def test_an_unnamed_line_never_takes_a_name_the_user_gave():
    """Unnamed lines and zones are named by their place (line1, zone3), stepping past names given to others; a name
    given twice is still refused."""
    import pytest
    from trafficpipe.counting import CountSpecError
    regions = parse_count_specs(["0,100,640,100", "line1=0,200,640,200", "zone:0,0,50,0,50,50"])
    assert [r.name for r in regions] == ["line2", "line1", "zone3"]
    with pytest.raises(CountSpecError, match="'a' is used twice"):
        parse_count_specs(["a=0,1,2,3", "a=0,1,3,3"])


def test_eval_track_end_to_end_rerun_and_a_stopped_run(shared, tmp_path):
    """End to end on PETS09-S3MF1: a run of 3 frames after one of 6 leaves dets/ with its own 3 frames; a run stopped
    (SIGTERM) while it detects leaves every file and report.json of the one before as they were, and no staging
    folder."""
    import time
    from cli_helpers import start_cli
    seq = os.path.join(shared, "data", "tracking", "pets09_s3mf1")
    out = tmp_path / "out"
    for n in (6, 3):
        p = run_cli("eval-track", seq, "--out", out, "--max-frames", n, "--no-progress")
        assert p.returncode == 0, p.stderr
    assert max(int(l.split(",")[0]) for l in open(str(out / "dets" / "pets09_s3mf1.txt"))) == 3
    before = dict((sub, _md5s(str(out / sub))) for sub in ("data", "gt", "dets", "."))
    p = start_cli("eval-track", seq, "--out", out, "--no-progress")
    stage = out / ".eval-track.partial" / "data"
    t0 = time.time()
    while not stage.exists() and time.time() - t0 < 120 and p.poll() is None:
        time.sleep(0.05)
    p.terminate()
    p.communicate(timeout=60)
    assert dict((sub, _md5s(str(out / sub))) for sub in ("data", "gt", "dets", ".")) == before
    assert not (out / ".eval-track.partial").exists()
    p = run_cli("eval-track", seq, "--classes", "vehicle", "--out", out)
    assert p.returncode == 2
    assert "--classes must be pedestrian" in one_error_line(p)


def test_eval_track_never_writes_into_a_sequence_nor_removes_a_file_it_did_not_write(shared, tmp_path):
    """--out that is a scored sequence, or a folder inside one, is refused before anything is written (its gt/gt.txt
    is an input); in a folder of the user's own, a re-run removes only the files of the sequences its earlier
    report.json lists, never another .txt there."""
    seq = _sequence_copy(shared, tmp_path, "seq")
    gt = (seq / "gt" / "gt.txt").read_bytes()
    for out in (seq, seq / "gt"):
        p = run_cli("eval-track", seq, "--dets", "public", "--max-frames", 20, "--out", out)
        assert p.returncode == 2
        assert "choose another --out" in one_error_line(p) and str(seq) in one_error_line(p)
    assert (seq / "gt" / "gt.txt").read_bytes() == gt
    assert sorted(os.listdir(str(seq / "gt"))) == ["gt.txt"] and not (seq / "data").exists()
    mine = tmp_path / "mine"
    (mine / "dets").mkdir(parents=True)
    (mine / "dets" / "keep.txt").write_text("the user's own notes\n")
    for _ in range(2):
        p = run_cli("eval-track", seq, "--dets", "public", "--max-frames", 20, "--out", mine)
        assert p.returncode == 0, p.stderr
        assert "removed" not in p.stderr
    assert (mine / "dets" / "keep.txt").read_text() == "the user's own notes\n"
    assert os.listdir(str(mine / "data")) == ["seq.txt"]


def test_eval_track_names_a_ground_truth_or_detection_file_that_is_no_text(shared, tmp_path):
    """A binary gt.txt or det.txt (a copy gone wrong) is one line naming the file, not a decoding traceback."""
    for name in ("gt", "det"):
        seq = _sequence_copy(shared, tmp_path, "binary" + name)
        (seq / name / (name + ".txt")).write_bytes(b"1,1,\xa3\xff\x00" * 50)
        p = run_cli("eval-track", seq, "--dets", "public", "--out", tmp_path / "o")
        assert p.returncode == 2
        assert "%s.txt: not a text file" % os.path.join(str(seq), name, name) in one_error_line(p)
