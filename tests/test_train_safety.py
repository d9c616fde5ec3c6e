"""`trafficpipe train` and `build-engine` refuse bad inputs in one line before any work: unreadable images (also in
--val), a set without boxes, a --val that scores nothing, names and folders that would overwrite files; a run stopped
with a double Ctrl-C ends in one line with 130; best.pt is replaced whole or not at all; the card follows the model
(input size, batch used, how the epoch was picked)."""
import json
import os
import shutil

import pytest

from trafficpipe.cli import build_parser, main

from cli_helpers import run_cli, start_cli
from training_helpers import TRAIN, needs_torch


def _pick(n=4):
    """`n` images of the training set with boxes, from its (four) sources in turn."""
    with open(os.path.join(TRAIN, "annotations.json")) as f:
        doc = json.load(f)
    seen, out = {}, []
    for im in doc["images"]:
        if im["boxes"] and seen.get(im["source"], 0) < -(-n // 4):
            out.append(im)
            seen[im["source"]] = seen.get(im["source"], 0) + 1
        if len(out) == n:
            break
    assert len(out) == n
    return doc["classes"], out


def make_set(folder, garbage=False, boxes=True, exhaustive=True, n=4):
    """A small labeled set in `folder` (copies of training images); `garbage`: one more image that is text."""
    classes, picked = _pick(n)
    os.makedirs(os.path.join(str(folder), "images"))
    images = []
    for i, im in enumerate(picked):
        name = "images/%d%s" % (i, os.path.splitext(im["image"])[1])
        shutil.copy(os.path.join(TRAIN, im["image"]), os.path.join(str(folder), name))
        rec = dict(im, image=name)
        if not boxes:
            rec["boxes"] = []
        if not exhaustive:
            rec["partial"] = sorted((set(rec.get("partial", [])) | set(rec.get("exhaustive", []))) - {"road_sign"})
            rec["exhaustive"] = []
            rec["boxes"] = [b for b in rec["boxes"] if b["cls"] != "road_sign"]
        images.append(rec)
    if garbage:
        with open(os.path.join(str(folder), "images", "bad.jpg"), "w") as f:
            f.write("garbage")
        images.append(dict(images[0], image="images/bad.jpg"))
    with open(os.path.join(str(folder), "annotations.json"), "w") as f:
        json.dump({"classes": classes, "images": images}, f)
    return str(folder)


def _one_line(capsys, code, rc, words):
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.startswith("trafficpipe")]
    assert rc == code and len(lines) == 1 and "Traceback" not in err, err
    assert words in lines[0], err
    return lines[0]


TRAIN_ARGS = ["--epochs", "1", "--batch", "4", "--device", "cpu", "--set", "trainable=head", "--no-progress"]


@needs_torch
@pytest.mark.parametrize("case,words", [
    ("garbage", "images/bad.jpg (unreadable or not an image)"),
    ("no-boxes", "no labeled boxes to train on"),
    ("val-partial", "no class is labeled exhaustively"),
    ("val-garbage", "images/bad.jpg (unreadable or not an image)"),
])
def test_bad_sets_are_refused_before_training(tmp_path, capsys, case, words):
    """With the default of data-loading workers (one here): one line naming what is wrong, nothing written."""
    train = make_set(tmp_path / "train", garbage=case == "garbage", boxes=case != "no-boxes")
    extra = []
    if case.startswith("val"):
        extra = ["--val", make_set(tmp_path / "val", garbage=case == "val-garbage", exhaustive=case != "val-partial")]
    out = tmp_path / "run"
    rc = main(["train", train, "--out", str(out), "--set", "workers=1"] + TRAIN_ARGS + extra)
    _one_line(capsys, 2, rc, words)
    assert not out.exists()


def test_a_data_loading_workers_error_is_its_own_line():
    """torch raises a worker's error again with the worker's traceback in its message: its last line is told."""
    torch_utils = pytest.importorskip("torch._utils")
    from trafficpipe.commands.dispatch import worker_message
    from trafficpipe.errors import DatasetError
    try:
        try:
            raise DatasetError("training set /x: cannot read image images/a.jpg; fix or remove it")
        except DatasetError:
            torch_utils.ExceptionWrapper(where="in DataLoader worker process 0").reraise()
    except DatasetError as e:
        text = str(e)
    assert "Traceback" in text
    assert worker_message(text) == "training set /x: cannot read image images/a.jpg; fix or remove it"
    assert worker_message("plain\nmessage") == "plain\nmessage"


@pytest.mark.parametrize("argv,words", [
    (["--name", "summary"], "would write the model card over the run's own summary.json"),
    (["--name", "history.onnx"], "would write the model card over the run's own history.json"),
    (["--out", ""], "argument --out: expected a folder, got an empty name"),
])
def test_names_that_would_overwrite_the_runs_files_are_usage_errors(capsys, argv, words):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["train", "d"] + argv)
    assert e.value.code == 2
    assert words in capsys.readouterr().err


def test_a_trailing_onnx_is_dropped_from_the_name():
    assert build_parser().parse_args(["train", "d", "--name", "foo.onnx"]).name == "foo"
    assert build_parser().parse_args(["train", "d", "--name", "best"]).name == "best"


def test_a_folder_holding_any_file_a_run_writes_is_taken(tmp_path):
    from trafficpipe.training.cli import _run_files, run_folder
    files = _run_files(["trafficpipe_picodet_s_416"])
    out = tmp_path / "runs"
    assert run_folder(str(out), files) == str(out)
    out.mkdir()
    (out / "notes.txt").write_text("x")
    assert run_folder(str(out), files) == str(out)  # a file no run writes: still free
    for name in ("trafficpipe_picodet_s_416.onnx", "trafficpipe_picodet_s_416.md", "summary.json"):
        (out / name).write_text("mine")
        assert run_folder(str(out), files) == str(out) + "2"
        (out / name).unlink()


def test_the_help_names_trains_own_knobs(capsys):
    from trafficpipe.commands.expert import SET_EXAMPLES
    for flag in ("--help", "--help-all"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["train", flag])
        text = " ".join(capsys.readouterr().out.split())
        assert "--set batch=4" not in text and "decode-processes" not in text and "cuda-graphs" not in text
        assert "--set trainable=head" in text
    assert "--set no-distill=on" in text and "long name without the dashes" in text
    for example in ["trainable=head", "no-distill=on", "distill=off"]:  # every example the help gives works
        build_parser().parse_args(["train", "d", "--set", example])
    assert build_parser().parse_args(["train", "d", "--set", "no-distill=on"]).distill is False
    assert build_parser().parse_args(["train", "d", "--set", "no-distill=off"]).distill is True
    assert "batch=4" in SET_EXAMPLES  # other commands keep theirs
    with pytest.raises(SystemExit):
        build_parser().parse_args(["detect", "--help-all"])
    assert "--set decode-processes=3, --set cuda-graphs=off" in " ".join(capsys.readouterr().out.split())


@needs_torch
def test_best_pt_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    import torch
    from trafficpipe.training import trainer
    best = tmp_path / "best.pt"
    trainer._save_atomic({"epoch": 1}, str(best))
    real_save = torch.save

    def killed(obj, path):
        with open(path, "wb") as f:
            f.write(b"")
        raise KeyboardInterrupt()

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        trainer._save_atomic({"epoch": 2}, str(best))
    monkeypatch.setattr(torch, "save", real_save)
    assert torch.load(str(best))["epoch"] == 1
    assert os.listdir(str(tmp_path)) == ["best.pt"]


@pytest.mark.parametrize("make,argv,words", [
    (None, ["--plugin-lib", "/nope/libx.so"], "--plugin-lib /nope/libx.so: does not exist"),
    ("afile", ["--out", "{t}/afile/x.plan"], "--out {t}/afile/x.plan"),
    ("afile", ["--cache-dir", "{t}/afile"], "--cache-dir {t}/afile: {t}/afile is a file, not a folder"),
    ("corrupt", ["--precision", "int8", "--calib", "{t}/corrupt"], "cannot read calibration images from {t}/corrupt"),
    ("random", [], "{t}/random.onnx is not"),
])
def test_build_engine_names_the_bad_argument_before_looking_for_tensorrt(tmp_path, capsys, make, argv, words):
    t = str(tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "annotations.json").write_text("{broken")
    (tmp_path / "random.onnx").write_bytes(b"\x07" + os.urandom(4000))
    model = str(tmp_path / "random.onnx") if make == "random" else "trafficpipe_picodet_s_416.onnx"
    rc = main(["build-engine", model] + [a.format(t=t) for a in argv])
    line = _one_line(capsys, 2, rc, words.format(t=t))
    assert "TensorRT" not in line


@needs_torch
def test_a_320_run_writes_a_320_model_and_card_and_leaves_a_users_file(tmp_path):
    """The 320 base at --imgsz 320, --batch larger than the set, no --val; --out holds a user's file of the name the
    run would write: the run goes to OUT-2 (OUT ends in a digit), the file stays as it was."""
    out = tmp_path / "r320"
    out.mkdir()
    (out / "trafficpipe_picodet_s_320.onnx").write_text("mine")
    train = make_set(tmp_path / "train", n=6)
    proc = run_cli("train", train, "--out", out, "--base", "picodet_s_320_coco.onnx", "--imgsz", "320",
                   "--epochs", "1", "--batch", "100", "--device", "cpu", "--set", "trainable=head", "--set",
                   "workers=0", "--no-progress", timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert (out / "trafficpipe_picodet_s_320.onnx").read_text() == "mine"
    run = tmp_path / "r320-2"
    card = json.loads((run / "trafficpipe_picodet_s_320.json").read_text())
    assert card["input"]["shape"] == [1, 3, 320, 320]
    assert card["training"]["batch"] == 6
    assert "best validation epoch" not in card["method"]["weights"]
    assert "lowest training loss" in card["method"]["weights"]
    assert sorted(os.listdir(str(run))) == ["best.pt", "history.json", "summary.json", "trafficpipe_picodet_s_320.json",
                                            "trafficpipe_picodet_s_320.md", "trafficpipe_picodet_s_320.onnx"]


@needs_torch
def test_a_double_ctrl_c_ends_in_one_line_with_130(tmp_path):
    """Two SIGINTs 0.3 s apart to the process group while training: the second is ignored while the run stops."""
    import signal
    import time
    train = make_set(tmp_path / "train", n=8)
    proc = start_cli("train", train, "--out", tmp_path / "run", "--epochs", "200", "--batch", "4", "--device", "cpu",
                     "--set", "trainable=head", "--set", "workers=0", "--no-progress", start_new_session=True)
    t0 = time.time()
    for line in proc.stderr:
        if "training train" in line or time.time() - t0 > 120:
            break
    time.sleep(4)
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err  # not -2: ended by the second signal
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert [l for l in err.splitlines() if " INFO " not in l] == ["trafficpipe: interrupted"], err
