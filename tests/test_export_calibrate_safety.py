"""`trafficpipe export` and `trafficpipe calibrate` never lose the model already on disk: what they are given is
checked before anything is written (--baseline, the --eval set and its images, --out), the new model and its card
are written under temporary names beside the target and renamed only once every step succeeded; a failure removes
only those. Bad inputs end in one line and a non-zero exit. Calibrate never replaces its input, shifts a class given
twice once, makes a missing --out folder, keeps its default --out out of the model folders, and says for YOLOX that
its operating point is approximate (and where it landed)."""
import hashlib
import json
import os
import shutil

import pytest

from cli_helpers import one_error_line, run_cli
from training_helpers import PICODET, TRAIN, YOLOX, needs_torch, torch
from trafficpipe.errors import TrafficpipeError
from trafficpipe.models.classes import TRAFFIC_CLASSES

onnx = pytest.importorskip("onnx")
NAME = "trafficpipe_picodet_s_416"


def _small_set(root, n=2):
    """A set of the first `n` traffic-train images labeling vehicles exhaustively (their image folder linked)."""
    with open(os.path.join(TRAIN, "annotations.json")) as f:
        ann = json.load(f)
    ann["images"] = [im for im in ann["images"] if "vehicle" in im.get("exhaustive", [])
                     and any(b["cls"] == "vehicle" for b in im["boxes"])][:n]
    os.makedirs(root)
    with open(os.path.join(root, "annotations.json"), "w") as f:
        json.dump(ann, f)
    os.symlink(os.path.join(TRAIN, "images"), os.path.join(root, "images"))
    return root


def _export_untrained(base, folder, name, classes=TRAFFIC_CLASSES):
    """The untrained traffic network of `base` exported as folder/name.onnx with its card (as export writes them)."""
    from trafficpipe.training.bases import build_network
    from trafficpipe.training.card import build_card, write_card
    from trafficpipe.training.export import export_onnx
    net, _ = build_network(base, classes)
    out = os.path.join(folder, name + ".onnx")
    export_onnx(net, base, out, classes)
    write_card(build_card(out, classes, base), out)
    return net, out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A training run's folder as train leaves it: best.pt (the untrained network of the PicoDet base) and the model
    exported from it with its card."""
    if torch is None:
        pytest.skip("torch not installed")
    d = str(tmp_path_factory.mktemp("run"))
    net, _ = _export_untrained(PICODET, d, NAME)
    torch.save({"state_dict": net.state_dict(), "classes": list(TRAFFIC_CLASSES), "base": os.path.basename(PICODET),
                "family": "picodet", "imgsz": 416, "epoch": 1}, os.path.join(d, "best.pt"))
    return d


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return _small_set(str(tmp_path_factory.mktemp("sets") / "small"))


@pytest.fixture(scope="module")
def parser():
    from trafficpipe.cli import build_parser
    return build_parser()


def _run(parser, *argv):
    """Run a command in this process (as the CLI does, less the logging set-up): its exit code."""
    args = parser.parse_args([str(a) for a in argv])
    return args._run(args)


def _refused(parser, words, *argv):
    with pytest.raises(TrafficpipeError) as e:
        _run(parser, *argv)
    msg = str(e.value)
    assert words in msg and "\n" not in msg and e.value.exit_code == 2, msg
    return msg


def _digests(folder):
    """{file name: sha256} of every file in `folder` (hidden temporaries included)."""
    out = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            out[name] = hashlib.sha256(f.read()).hexdigest()
    return out


def _boom(*a, **k):
    raise RuntimeError("evaluation failed")


@needs_torch
def test_a_failed_export_leaves_the_model_on_disk(run_dir, small, parser, tmp_path, monkeypatch):
    r6 = str(tmp_path / "r6")
    shutil.copytree(run_dir, r6)
    before = _digests(r6)
    ckpt = os.path.join(r6, "best.pt")
    # a --baseline typo: found out before anything is written (the CLI: one line, exit 2)
    p = run_cli("export", ckpt, "--eval", small, "--baseline", "picodet_typo.onnx", timeout=120)
    assert p.returncode == 2 and "picodet_typo.onnx" in one_error_line(p)
    # an --eval set naming a missing image, or an unreadable one; --baseline without --eval
    missing = str(tmp_path / "missing")
    shutil.copytree(small, missing, symlinks=True)
    with open(os.path.join(missing, "annotations.json")) as f:
        ann = json.load(f)
    ann["images"][0]["image"] = "images/no_such_image.jpg"
    with open(os.path.join(missing, "annotations.json"), "w") as f:
        json.dump(ann, f)
    _refused(parser, "does not exist", "export", ckpt, "--eval", missing)
    broken = str(tmp_path / "broken")
    os.makedirs(os.path.join(broken, "images"))
    with open(os.path.join(small, "annotations.json")) as f:
        ann = json.load(f)
    for im in ann["images"]:
        im["image"] = "images/" + os.path.basename(im["image"])
        with open(os.path.join(broken, im["image"]), "wb") as f:
            f.write(b"not a picture")
    with open(os.path.join(broken, "annotations.json"), "w") as f:
        json.dump(ann, f)
    _refused(parser, "cannot be read", "export", ckpt, "--eval", broken)
    _refused(parser, "--baseline nonexistent.onnx needs --eval", "export", ckpt, "--baseline", "nonexistent.onnx")
    # a step failing after the new model was written: only the temporary files go
    monkeypatch.setattr("trafficpipe.training.model_eval.evaluate_model", _boom)
    with pytest.raises(RuntimeError):
        _run(parser, "export", ckpt, "--eval", small)
    assert _digests(r6) == before
    monkeypatch.undo()
    # a successful export replaces the model and its card, under their own names
    assert _run(parser, "export", ckpt, "--note", "second export") == 0
    assert sorted(os.listdir(r6)) == sorted(before)
    card = json.load(open(os.path.join(r6, NAME + ".json")))
    with open(os.path.join(r6, NAME + ".onnx"), "rb") as f:
        assert card["sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert card["name"] == NAME and card["file"] == NAME + ".onnx" and card["training"]["note"] == "second export"


@needs_torch
def test_export_refuses_what_does_not_fit_in_one_line(run_dir, parser, tmp_path):
    out = str(tmp_path / "out" / "m.onnx")
    other = str(tmp_path / "other.pt")
    torch.save({"state_dict": {"0.weight": torch.zeros(8, 3, 3, 3)}, "classes": ["vehicle"]}, other)
    p = run_cli("export", other, "--base", "picodet_s_416_coco.onnx", "--blend", "0.5", "--out", out, timeout=120)
    assert p.returncode == 2 and "checkpoint %s does not fit base picodet_s_416_coco.onnx" % other in one_error_line(p)
    ckpt = torch.load(os.path.join(run_dir, "best.pt"), map_location="cpu", weights_only=False)
    two = str(tmp_path / "two.pt")
    torch.save(dict(ckpt, classes=["vehicle", "pedestrian"]), two)
    _refused(parser, "does not fit base picodet_s_416_coco.onnx", "export", two, "--blend", "0.5", "--out", out)
    nobase = str(tmp_path / "nobase.pt")
    torch.save(dict((k, v) for k, v in ckpt.items() if k != "base"), nobase)
    msg = _refused(parser, "does not name the base model it was trained from", "export", nobase, "--out", out)
    assert "training starts" not in msg
    if os.path.isdir("/proc"):
        msg = _refused(parser, "/proc/x.onnx", "export", os.path.join(run_dir, "best.pt"), "--out", "/proc/x.onnx")
        assert "cannot" in msg
    with pytest.raises(SystemExit) as e:  # --out '' is no longer the default
        parser.parse_args(["export", os.path.join(run_dir, "best.pt"), "--out", ""])
    assert e.value.code == 2
    assert not os.path.exists(os.path.dirname(out)) and sorted(os.listdir(str(tmp_path))) == [
        "nobase.pt", "other.pt", "two.pt"]


def test_calibrate_refuses_bad_input_before_writing(run_dir, small, tmp_path):
    model = os.path.join(run_dir, NAME + ".onnx")
    before = _digests(run_dir)
    p = run_cli("calibrate", model, "--dataset", small, "--classes", "vehicle", "--out", model, "--eval", "nope")
    assert p.returncode == 2 and "calibrate never replaces its input" in one_error_line(p)
    rand = tmp_path / "rand.onnx"
    rand.write_bytes(os.urandom(4000))
    p = run_cli("calibrate", rand, "--dataset", small, "--classes", "vehicle", "--out", tmp_path / "c.onnx")
    assert p.returncode == 2 and "is not an ONNX model" in one_error_line(p)
    p = run_cli("calibrate", model, "--dataset", small, "--classes", "vehicle", "--out", tmp_path / "c.onnx",
                "--baseline", "nonexistent.onnx")
    assert p.returncode == 2 and "needs --eval" in one_error_line(p)
    p = run_cli("calibrate", model, "--dataset", small, "--classes", "vehicle", "--out", "")
    assert p.returncode == 2 and "argument --out" in one_error_line(p)
    assert _digests(run_dir) == before and sorted(os.listdir(str(tmp_path))) == ["rand.onnx"]


@needs_torch
def test_export_and_calibrate_never_write_over_an_input_or_a_file_that_is_no_model_card(run_dir, small, parser,
                                                                                       tmp_path):
    """The model, its card (.json) or its card text (.md) would land on an input (the base model, the checkpoint)
    or on a JSON/Markdown file that is no model card (the run's summary.json, a data set's annotations.json, a
    README.md): one line, nothing written; an earlier model with its card is still replaced."""
    run = str(tmp_path / "run")
    shutil.copytree(run_dir, run)
    ckpt = os.path.join(run, "best.pt")
    with open(os.path.join(run, "summary.json"), "w") as f:
        json.dump({"family": "picodet"}, f)
    base = str(tmp_path / "base.onnx")
    shutil.copy(PICODET, base)
    (tmp_path / "README.md").write_text("notes\n")
    before = _digests(run)
    _refused(parser, "which this run reads", "export", ckpt, "--base", base, "--out", base)
    _refused(parser, "summary.json, which is no trafficpipe model card", "export", ckpt,
             "--out", os.path.join(run, "summary.onnx"))
    _refused(parser, "README.md, which is no trafficpipe model card", "export", ckpt,
             "--out", str(tmp_path / "README.onnx"))
    model = os.path.join(run, NAME + ".onnx")
    _refused(parser, "annotations.json, which is no trafficpipe model card", "calibrate", model, "--dataset", small,
             "--classes", "vehicle", "--out", os.path.join(small, "annotations.onnx"))
    assert _digests(run) == before and (tmp_path / "README.md").read_text() == "notes\n"
    with open(PICODET, "rb") as f, open(base, "rb") as g:
        assert f.read() == g.read()
    assert sorted(os.listdir(small)) == ["annotations.json", "images"]
    assert _run(parser, "export", ckpt, "--out", model) == 0  # a model with its card is replaced, as before


@needs_torch
def test_export_refuses_a_checkpoint_whose_classes_or_input_size_are_not_its_own(run_dir, parser, tmp_path):
    """Class names that are no traffic classes (a checkpoint of another tool), or no list, or an input size that is
    no number: one line naming the checkpoint, instead of a model whose classes would be misread."""
    ckpt = torch.load(os.path.join(run_dir, "best.pt"), map_location="cpu", weights_only=False)
    for i, change in enumerate(({"classes": ["car", "truck", "bus", "x", "y"]}, {"classes": 5},
                                {"classes": ["vehicle", "vehicle"]}, {"imgsz": "abc"})):
        bad = str(tmp_path / ("bad%d.pt" % i))
        torch.save(dict(ckpt, **change), bad)
        _refused(parser, "%s is not a trafficpipe checkpoint" % bad, "export", bad, "--out", str(tmp_path / "m.onnx"))
    assert not os.path.exists(str(tmp_path / "m.onnx"))


def test_calibrate_names_a_model_whose_class_scores_it_cannot_shift_before_scoring(small, tmp_path):
    """A model with a card but no PicoDet or YOLOX head (another network): one line saying what calibrate takes,
    not the engine's "pass --arch" (an option calibrate has not), and before any image is scored."""
    from trt_support import tiny_onnx
    model = tiny_onnx(str(tmp_path / "tiny.onnx"))
    with open(str(tmp_path / "tiny.json"), "w") as f:
        json.dump({"family": "picodet", "classes": list(TRAFFIC_CLASSES)}, f)
    p = run_cli("calibrate", model, "--dataset", small, "--classes", "vehicle", "--out", tmp_path / "c.onnx")
    line = one_error_line(p)
    assert p.returncode == 2 and "is no PicoDet or YOLOX model as trafficpipe train and export write them" in line
    assert "--arch" not in line and not (tmp_path / "c.onnx").exists()


def _vehicle_biases(path):
    from onnx import numpy_helper
    from trafficpipe.training.calibrate import _bias_rows
    m = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    return [float(inits[n][TRAFFIC_CLASSES.index("vehicle")]) for n in _bias_rows(m)[1]], m


def test_calibrate_shifts_a_class_once_and_replaces_only_on_success(run_dir, small, parser, tmp_path, monkeypatch):
    from trafficpipe.training.calibrate import logit
    model = os.path.join(run_dir, NAME + ".onnx")
    out = tmp_path / "new" / "sub" / "c.onnx"  # its folder is made
    p = run_cli("calibrate", model, "--dataset", small, "--classes", "vehicle,vehicle", "--out", out, "--threads", "2")
    assert p.returncode == 0, p.stderr
    before, _ = _vehicle_biases(model)
    after, m = _vehicle_biases(out)
    entries = json.loads(dict((e.key, e.value) for e in m.metadata_props)["trafficpipe.calibration"])
    assert [e["class"] for e in entries] == ["vehicle"]
    delta = entries[0]["logit_shift"]
    assert abs(delta - (logit(0.3) - logit(entries[0]["threshold"]))) < 1e-3
    for b, a in zip(before, after):  # shifted once, not twice
        assert abs((a - b) - delta) < 1e-3
    folder = str(out.parent)
    written = _digests(folder)
    assert sorted(written) == ["c.json", "c.md", "c.onnx"]
    # calibrating again onto c.onnx with --eval failing: c.onnx and its card stay as they were, no temporaries left
    monkeypatch.setattr("trafficpipe.training.model_eval.evaluate_model", _boom)
    with pytest.raises(RuntimeError):
        _run(parser, "calibrate", model, "--dataset", small, "--classes", "vehicle", "--out", out, "--eval", small)
    assert _digests(folder) == written


def test_calibrate_default_out_stays_out_of_model_folders(tmp_path, monkeypatch):
    from trafficpipe.models.registry import find_model
    from trafficpipe.training.calibrate_cli import _default_out
    monkeypatch.chdir(str(tmp_path))
    shipped = find_model("trafficpipe_picodet_s_416.onnx")  # in the package: never written into
    assert _default_out(shipped) == str(tmp_path / (NAME + "_calibrated.onnx"))
    mine = tmp_path / "models"
    mine.mkdir()
    (mine / "m.onnx").write_bytes(b"")
    monkeypatch.setenv("TRAFFICPIPE_MODELS", str(mine))
    assert _default_out(str(mine / "m.onnx")) == str(tmp_path / "m_calibrated.onnx")
    run = tmp_path / "run"
    run.mkdir()
    assert _default_out(str(run / "m.onnx")) == str(run / "m_calibrated.onnx")  # a run's folder: beside MODEL


def test_commit_replaces_the_card_or_removes_a_stale_one(tmp_path):
    from trafficpipe.training.card import commit_outputs, staging_path
    out = str(tmp_path / "m.onnx")
    for ext in ("onnx", "json", "md"):
        (tmp_path / ("m." + ext)).write_text("old")
    staged = staging_path(out)
    assert os.path.dirname(staged) == str(tmp_path) and staged.endswith(".onnx")
    with open(staged, "w") as f:
        f.write("new")
    commit_outputs(staged, out)  # the new model has no card: the old one would describe the wrong model
    assert sorted(os.listdir(str(tmp_path))) == ["m.onnx"] and (tmp_path / "m.onnx").read_text() == "new"


@needs_torch
def test_yolox_calibration_says_it_is_approximate_and_where_it_landed(small, parser, tmp_path, capsys):
    _, model = _export_untrained(YOLOX, str(tmp_path), "trafficpipe_yolox_nano_416")
    out = str(tmp_path / "cal.onnx")
    assert _run(parser, "calibrate", model, "--dataset", small, "--classes", "vehicle", "--out", out,
                "--threads", "2") == 0
    printed = capsys.readouterr().out
    assert "YOLOX, approximate: operating point now at score" in printed
    m = onnx.load(out)
    entry = json.loads(dict((e.key, e.value) for e in m.metadata_props)["trafficpipe.calibration"])[-1]
    assert set(entry["achieved"]) == {"threshold", "precision", "recall", "ap50"}
    assert "approximate" in json.load(open(str(tmp_path / "cal.json")))["method"]["calibration"]
    with pytest.raises(SystemExit):
        parser.parse_args(["calibrate", "--help"])
    assert "lands near --conf" in " ".join(capsys.readouterr().out.split())
