"""`trafficpipe bench` refuses, in one line and before measuring anything, what it would get wrong: a report, plot or
output folder on the clip it measures, an --out that is a file, non-finite or non-positive --live values, options the
mode would ignore, a --plot file type matplotlib cannot write. A --plot without an extension is logged by the file
written; every stage's output folder says what it replaces, as the pipeline's does."""
import json
import os
import shutil

import pytest

from trafficpipe.bench.live_capacity import format_live_capacity
from trafficpipe.bench.plot import plot_file
from trafficpipe.cli import main
from trafficpipe.errors import TrafficpipeError

from cli_helpers import run_cli

TINY = ["--frames", "2", "--repeat", "1", "--warmup", "0"]


@pytest.fixture
def clip(tmp_path, video_360p):
    """A copy of the 360p clip in its own folder (what a wrong --json, --plot or --out would overwrite)."""
    path = tmp_path / "clip.mp4"
    shutil.copyfile(video_360p, str(path))
    return path


def _refused(capsys, argv, words):
    """Run `trafficpipe bench ARGV` in this process: exit 2, one line naming `words`, nothing measured."""
    try:
        rc = main(["bench"] + [str(a) for a in argv])
    except SystemExit as e:  # a value the parser refuses
        rc = e.code
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "error:" in lines[0] and words in lines[0], lines[0]
    assert "fps" not in out and "repeat 1" not in err  # refused before measuring
    return lines[0]


def _unchanged(path, original):
    with open(str(path), "rb") as a, open(original, "rb") as b:
        assert a.read() == b.read()


@pytest.mark.parametrize("option", ["--json", "--plot"])
def test_a_report_or_plot_on_the_source_is_refused(capsys, clip, video_360p, option):
    link = clip.parent / "link.png"
    os.symlink(str(clip), str(link))
    for target in (clip, link):  # the clip itself, and a link to it
        argv = [clip] + TINY + ["--output", "none", option, target]
        if option == "--plot" and target == clip:  # .mp4 is no image type: refused as such, before the source check
            _refused(capsys, argv, "cannot write a .mp4 plot")
        else:
            _refused(capsys, argv, "would overwrite the source %s" % clip)
    _unchanged(clip, video_360p)


def test_an_out_folder_on_the_source_is_refused(capsys, clip, video_360p):
    _refused(capsys, [clip] + TINY + ["--output", "jsonl", "--out", clip], "is the source")
    # a source in DIR/pipeline: the bench writes DIR/pipeline/<name>.jsonl beside it (.mp4 over it with video)
    held = clip.parent / "keep" / "seed" / "clip.mp4"
    held.parent.mkdir(parents=True)
    shutil.copyfile(str(clip), str(held))
    _refused(capsys, [held] + TINY + ["--output", "video", "--out", clip.parent / "keep"], "which holds the source")
    _unchanged(held, video_360p)


def test_an_out_that_is_a_file_is_refused_before_warmup(capsys, clip):
    plain = clip.parent / "plain"
    plain.write_text("x")
    _refused(capsys, [clip, "--frames", "2", "--repeat", "1", "--output", "jsonl", "--out", plain], "is a file")
    _refused(capsys, [clip] + TINY + ["--output", "jsonl", "--out", plain / "sub"], "is a file")
    (clip.parent / "o").mkdir()
    (clip.parent / "o" / "pipeline").write_text("x")
    _refused(capsys, [clip] + TINY + ["--output", "jsonl", "--out", clip.parent / "o"],
             "where the bench writes a folder")
    assert plain.read_text() == "x"


@pytest.mark.parametrize("option", ["--live-seconds", "--live-p99"])
@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf", "-inf", "1e999", "x"])
def test_live_values_are_positive_finite_numbers(capsys, clip, option, value):
    _refused(capsys, [clip, "--live", "1", option, value], "argument %s" % option)


def test_live_seconds_have_an_upper_bound(capsys, clip):
    _refused(capsys, [clip, "--live", "1", "--live-seconds", "1e300"], "at most 86400")


def test_the_live_table_shows_the_settings_as_given():
    report = {"source": "/x/clip.mp4", "seconds": 0.5, "output": "none", "max_p99_ms": 87.5, "capacity": 0,
              "steps": []}
    head = format_live_capacity(report).splitlines()[0]
    assert "0.5 s per step" in head and "<= 87.5 ms" in head
    report.update(seconds=10.0, max_p99_ms=100.0)
    head = format_live_capacity(report).splitlines()[0]
    assert "10 s per step" in head and "<= 100 ms" in head


@pytest.mark.parametrize("extra,words", [
    (["--live", "1", "--live-seconds", "1", "--plot", "p.png", "--streams", "2"],
     "--live measures live capacity only: it does not take --plot or --streams"),
    (["--live", "1", "--frames", "5", "--repeat", "2", "--warmup", "0"],
     "does not take --frames, --repeat or --warmup"),
    (["--live", "1", "--stream-processes"], "does not take --stream-processes"),
    (["--live", "1", "--seed-engine", "same"], "does not take --seed-engine"),
    (["--live", "1", "--mps"], "does not take --mps"),
    (["--live", "1", "--out", "somewhere"], "does not take --out"),
    (["--live-seconds", "2"], "--live-seconds applies only with --live"),
    (["--live-seconds", "2", "--live-p99", "50"], "--live-seconds or --live-p99 apply only with --live"),
    (["--stream-processes"], "--stream-processes runs the --streams counts"),
    (["--out", "somewhere", "--output", "none"], "--output none writes nothing"),
])
def test_options_the_mode_would_ignore_are_refused(capsys, clip, extra, words):
    _refused(capsys, [clip] + extra, words)
    assert not (clip.parent / "somewhere").exists() and not os.path.exists("p.png")


@pytest.mark.parametrize("name,words", [("p.txt", "cannot write a .txt plot"), ("p.", "no file type after the '.'"),
                                        ("p.mp4", "cannot write a .mp4 plot")])
def test_a_plot_file_type_matplotlib_cannot_write_is_refused_first(capsys, clip, name, words):
    pytest.importorskip("matplotlib")
    line = _refused(capsys, [clip, "--frames", "2", "--output", "none", "--plot", clip.parent / name], words)
    assert ".png" in line and ".svg" in line  # the types it takes
    assert not (clip.parent / name).exists()


def test_a_plot_file_is_named_as_written():
    assert plot_file("p") == "p.png"
    assert plot_file(os.path.join("a.d", "p")) == os.path.join("a.d", "p.png")  # a dot in a folder is no extension
    assert plot_file("p.SVG") == "p.SVG" and plot_file("p.pdf") == "p.pdf"
    with pytest.raises(TrafficpipeError):
        plot_file("p.json")


def test_json_and_plot_on_one_file_are_refused(capsys, clip):
    pytest.importorskip("matplotlib")
    same = clip.parent / "r.png"
    _refused(capsys, [clip] + TINY + ["--output", "none", "--json", same, "--plot", same], "name the same file")


def test_every_output_folder_says_what_it_replaces_and_the_plot_its_real_name(clip, tmp_path):
    """Twice into one --out: the second run names the earlier outputs it replaces in ceilings/, seed/ and pipeline/
    alike. The first draws --plot NAME (no extension): the log names NAME.png, the file written."""
    pytest.importorskip("matplotlib")
    out = tmp_path / "o"
    plot = tmp_path / "pnoext"
    first = run_cli("bench", clip, "--model", "picodet-s-320", "--threads", "1", "--output", "jsonl", "--out", out,
                    "--plot", plot, *TINY, timeout=240)
    assert first.returncode == 0, first.stderr
    assert "plot written to %s.png" % plot in first.stderr and (tmp_path / "pnoext.png").is_file()
    assert not plot.exists() and "replacing" not in first.stderr
    second = run_cli("bench", clip, "--model", "picodet-s-320", "--threads", "1", "--output", "jsonl", "--out", out,
                     *TINY, timeout=240)
    assert second.returncode == 0, second.stderr
    replacing = [l for l in second.stderr.splitlines() if "replacing" in l]
    assert len(replacing) == 3, second.stderr
    for sub in ("ceilings", "seed", "pipeline"):
        assert any("existing output in %s as each is finished: clip.jsonl" % (out / sub) in l for l in replacing)


def test_live_runs_the_tracker_it_is_given(clip, tmp_path):
    """--track under --live is honoured: every camera's pipeline tracks (its `track` stage), the report says so."""
    report = tmp_path / "live.json"
    r = run_cli("bench", clip, "--model", "picodet-s-320", "--threads", "1", "--decode-threads", "1", "--live", "1",
                "--live-seconds", "0.3", "--track", "--output", "none", "--json", report, timeout=240)
    assert r.returncode == 0, r.stderr
    assert "0.3 s per step" in r.stdout and "tracked" in r.stdout
    rep = json.loads(report.read_text())
    assert rep["track"] is True and "track" in rep["steps"][0]["stages"]
    assert "--track" in rep["command"] and "--frames" not in rep["command"] and "--warmup" not in rep["command"]
