"""Bad values and output places end in one line and exit 2 before any work or any file is written: --log-level,
empty lists (--classes, --save), --name with folders in it, an output folder that is a file, a checkpoint given the
base of another family, an unreadable --summary; bench --plot and build-engine check their arguments first."""
import json
import os
import shutil

import pytest

from cli_helpers import run_cli
from training_helpers import DEV, TRAIN, needs_torch, YOLOX


def _one_error(proc, words, code=2):
    assert proc.returncode == code and "Traceback" not in proc.stderr, proc.stderr
    errors = [l for l in proc.stderr.splitlines() if "error:" in l]
    assert len(errors) == 1 and words in errors[0], proc.stderr
    return errors[0]


@pytest.mark.parametrize("command", ["detect", "export", "calibrate", "build-engine", "eval-track", "train"])
def test_a_bad_log_level_is_a_usage_error(command):
    _one_error(run_cli(command, "x", "--log-level", "BOGUS"), "argument --log-level: expected one of TRACE, DEBUG")


def test_the_log_level_takes_any_case(tmp_path):
    img = sorted(os.listdir(os.path.join(DEV, "images")))[0]
    proc = run_cli("detect", os.path.join(DEV, "images", img), "--out", tmp_path / "o", "--log-level", "warning")
    assert proc.returncode == 0 and " INFO " not in proc.stderr, proc.stderr


@pytest.mark.parametrize("args", [
    ["detect", "x", "--classes", ","], ["detect", "x", "--classes", ""], ["detect", "x", "--save", ""],
    ["eval", "x", "--classes", ""],
    ["calibrate", "m.onnx", "--dataset", "d", "--classes", ""], ["export", "best.pt", "--keep-base", ","],
    ["train", "d", "--boost", ""],
])
def test_an_empty_list_is_a_usage_error(args):
    _one_error(run_cli(*args), "expected a comma-separated list of one entry or more")


@pytest.mark.parametrize("args", [
    ["detect", "x", "--classes", "vehicle,,pedestrian"], ["detect", "x", "--save", "jsonl,"],
    ["score", "x", "--out", "o", "--classes", "vehicle,,"], ["train", "d", "--boost", ",pedestrian=2"],
])
def test_an_empty_entry_in_a_list_is_a_usage_error(args):
    _one_error(run_cli(*args), "has an empty entry (two commas, or one at an end)")


@pytest.mark.parametrize("args, words", [
    (["--track", "--track-fps", "nan"], "argument --track-fps: expected a finite number, got 'nan'"),
    (["--track", "--track-fps", "inf"], "argument --track-fps: expected a finite number, got 'inf'"),
    (["--track-fps", "7"], "--track-fps 7 needs --track"), (["--tracker", "ocsort"], "--tracker ocsort needs --track"),
])
def test_tracking_knobs_need_tracking_and_finite_values(video_360p, tmp_path, args, words):
    _one_error(run_cli("detect", video_360p, "--out", tmp_path / "o", "--max-frames", "2", *args), words)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", [["eval", "x"], ["detect", "x"], ["calibrate", "m.onnx", "--dataset", "d",
                                                                  "--classes", "vehicle"],
                                     ["export", "best.pt"]])
def test_onnx_runtime_threads_are_bounded_by_the_cores(command):
    """A thread count far past the cores (ONNX Runtime's own error, or a run that crawls and hangs at its end) is
    refused when parsed: 0 (all cores) up to 4 per core."""
    cap = 4 * (os.cpu_count() or 1)
    for n in (cap + 1, 99999999999):
        _one_error(run_cli(*(command + ["--threads", str(n)])), "argument --threads: at most %d threads" % cap)


def test_score_refuses_a_tracker_without_tracking(video_360p, tmp_path):
    _one_error(run_cli("score", video_360p, "--out", tmp_path / "o", "--tracker", "ocsort"),
               "--tracker ocsort needs --track")
    assert not (tmp_path / "o").exists()


def test_a_tile_ratio_of_one_gets_one_answer():
    _one_error(run_cli("detect", "x", "--tile-ratio", "1"), "argument --tile-ratio: must be more than 1, got 1")


@pytest.mark.parametrize("name", ["../../evil", "", ".", "..", "a/b", "a\\b"])
def test_train_name_must_be_a_plain_file_name(tmp_path, name):
    proc = run_cli("train", TRAIN, "--out", tmp_path / "run", "--epochs", "1", "--device", "cpu", "--name", name)
    _one_error(proc, "argument --name: expected a plain file name")
    assert not (tmp_path / "run").exists()


def test_output_folder_that_is_a_file(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out in (afile, afile / "sub"):
        proc = run_cli("train", TRAIN, "--out", out, "--epochs", "1", "--device", "cpu", "--workers", "0",
                       timeout=120)
        assert proc.returncode == 2, proc.stderr
        err = _one_error(proc, "cannot create output folder %s" % out)
        assert "needs torch" in err or "FileExists" not in err
    shipped = "trafficpipe_picodet_s_416.onnx"
    proc = run_cli("calibrate", shipped, "--dataset", TRAIN, "--classes", "vehicle", "--out", afile / "c.onnx",
                   timeout=60)
    _one_error(proc, "cannot create output folder %s: a file of that name exists" % afile)
    assert "precision" not in proc.stderr  # refused before calibrating


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    pytest.importorskip("torch")
    run = tmp_path_factory.mktemp("ckpt") / "run"
    proc = run_cli("train", TRAIN, "--out", run, "--epochs", "1", "--max-images", "4", "--batch", "4", "--trainable",
                   "head", "--workers", "0", "--device", "cpu", "--no-progress", timeout=300)
    assert proc.returncode == 0, proc.stderr
    return run / "best.pt"


@needs_torch
def test_export_refuses_bad_outputs_and_inputs_before_writing(tmp_path, checkpoint):
    afile = tmp_path / "afile"
    afile.write_text("x")
    _one_error(run_cli("export", checkpoint, "--out", afile / "x.onnx"), "cannot create output folder %s" % afile)
    err = _one_error(run_cli("export", checkpoint, "--base", YOLOX, "--out", tmp_path / "y.onnx"),
                     "was trained from a PicoDet base (picodet_s_416_coco.onnx) but --base yolox_nano_416.onnx is "
                     "YOLOX")
    assert "state_dict" not in err
    bad = tmp_path / "bad.json"
    bad.write_text("{bad")
    _one_error(run_cli("export", checkpoint, "--out", tmp_path / "x3.onnx", "--summary", bad),
               "%s is not valid JSON" % bad)
    _one_error(run_cli("export", checkpoint, "--out", tmp_path / "x4.onnx", "--summary", tmp_path / "none.json"),
               "--summary %s does not exist" % (tmp_path / "none.json"))
    assert sorted(os.listdir(str(tmp_path))) == ["afile", "bad.json"]  # nothing written, not even the model


@needs_torch
def test_export_leaves_no_model_without_its_card(tmp_path, checkpoint):
    """A step after the ONNX file is written fails (here: the training set the summary names is no dataset): the
    model goes too, no file is left without its card."""
    summary = json.loads((checkpoint.parent / "summary.json").read_text())
    broken = tmp_path / "broken-set"
    broken.mkdir()
    (broken / "annotations.json").write_text("[]")
    summary["train_dir"] = str(broken)
    spath = tmp_path / "summary.json"
    spath.write_text(json.dumps(summary))
    proc = run_cli("export", checkpoint, "--out", tmp_path / "m.onnx", "--summary", spath, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert not any(n.startswith("m.") for n in os.listdir(str(tmp_path))), os.listdir(str(tmp_path))


def test_build_engine_checks_its_arguments_before_tensorrt(tmp_path):
    _one_error(run_cli("build-engine", tmp_path / "nonexist.onnx"), "does not exist")
    _one_error(run_cli("build-engine", "trafficpipe_picodet_s_416.onnx", "--arch", "bogus"),
               "--arch bogus: unknown detector family")


def test_bench_checks_the_plot_location_first(tmp_path, video_360p):
    pytest.importorskip("matplotlib")
    afile = tmp_path / "afile"
    afile.write_text("x")
    proc = run_cli("bench", video_360p, "--frames", "20", "--plot", afile / "x.png", timeout=120)
    _one_error(proc, "cannot write %s" % (afile / "x.png"))
    assert "fps" not in proc.stdout  # refused before measuring


@needs_torch
@pytest.mark.parametrize("signame,code,word", [("SIGTERM", 143, "terminated"), ("SIGINT", 130, "interrupted")])
def test_train_stopped_with_its_data_loading_workers_says_so_in_one_line(tmp_path, signame, code, word):
    """`timeout` and a terminal signal the whole process group, the DataLoader workers included: the run still ends
    in one line (no worker traceback, no 'DataLoader worker ... killed by signal')."""
    import signal
    import time
    from cli_helpers import start_cli
    proc = start_cli("train", TRAIN, "--out", tmp_path / "run", "--epochs", "1", "--device", "cpu", "--workers", "1",
                     "--no-progress", start_new_session=True)
    t0 = time.time()
    for line in proc.stderr:  # the workers are started just after this line
        if "training traffic-train" in line or time.time() - t0 > 120:
            break
    time.sleep(3)
    os.killpg(proc.pid, getattr(signal, signame))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert err.strip().splitlines() == ["trafficpipe: %s" % word], err


@pytest.mark.parametrize("terminated,code,word", [(True, 143, "terminated"), (False, 130, "interrupted")])
def test_a_signal_while_the_subcommands_import_ends_in_one_line(monkeypatch, capsys, terminated, code, word):
    """Ctrl-C or SIGTERM in the first moments (the subcommands importing) gives the exit code of an interrupted run
    and one line, not a traceback out of an import."""
    from trafficpipe import cli
    from trafficpipe.errors import Terminated

    def interrupted():
        raise Terminated() if terminated else KeyboardInterrupt()
    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["detect", "x.jpg"]) == code
    assert capsys.readouterr().err.strip().splitlines() == ["trafficpipe: %s" % word]
