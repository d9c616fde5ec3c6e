"""The command line's surface: a short main --help, every knob behind --set / --help-all, defaults from the machine."""
import re

import pytest

from trafficpipe.cli import build_parser
from trafficpipe.commands.expert import USER_OPTIONS
from trafficpipe.engines.factory import choose_engine, default_precision
from trafficpipe.run_config import machine_default, resolve

from cli_helpers import run_cli


def _help(argv, capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(argv)
    assert e.value.code == 0
    return capsys.readouterr().out


def _options(text):
    return re.findall(r"^  (-{1,2}[a-z][\w-]*)", text, flags=re.M)


@pytest.mark.parametrize("command", ["detect", "bench", "eval", "eval-track", "score", "train"])
def test_the_main_help_lists_at_most_15_options_and_help_all_lists_every_knob(command, capsys):
    short = _options(_help([command, "--help"], capsys))
    full = _options(_help([command, "--help-all"], capsys))
    assert len(short) <= 15, short
    assert set(short) < set(full)
    assert "--set" in short and "--help-all" in short
    if command in ("detect", "bench"):
        assert "--decode-processes" in full and "--decode-processes" not in short
    if command == "train":
        assert {"--tile-crop", "--boost", "--copy-paste", "--lr"} <= set(full) - set(short)


@pytest.mark.parametrize("command", sorted(USER_OPTIONS))
def test_every_option_the_main_help_names_exists(command, capsys):
    full = set(_options(_help([command, "--help-all"], capsys)))
    assert set(USER_OPTIONS[command]) <= full, set(USER_OPTIONS[command]) - full


def test_set_key_value_is_the_same_as_the_option():
    p = build_parser()
    a = p.parse_args(["detect", "x.mp4", "--batch", "3", "--decode-threads", "2", "--no-cuda-graphs"])
    b = p.parse_args(["detect", "x.mp4", "--set", "batch=3", "--set", "decode-threads=2", "--set", "cuda_graphs=off"])
    for key in ("batch", "decode_threads", "cuda_graphs"):
        assert getattr(a, key) == getattr(b, key)
    assert b.batch == 3 and b.cuda_graphs is False


@pytest.mark.parametrize("setting,message", [
    ("bach=2", "unknown key 'bach' (did you mean batch"),
    ("batch=two", "--set batch: expected a whole number, got 'two'"),
    ("decoder=foo", "'foo' is not one of opencv, nvdec"),
    ("batch", "--set takes KEY=VALUE"),
])
def test_a_bad_setting_is_one_line_and_exit_2(setting, message):
    proc = run_cli("detect", "x.mp4", "--set", setting)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and message in errors[0], proc.stderr


def test_auto_picks_onnxruntime_without_a_gpu_and_says_why():
    name, reason = choose_engine("auto")
    assert name == "onnxruntime" and reason  # CI has no GPU
    assert choose_engine("torch") == ("torch", "asked for")
    assert default_precision("torch") == "fp16" and default_precision("onnxruntime") == "fp32"


def test_defaults_follow_the_engine_the_cores_and_the_sources(video_720p):
    assert machine_default("batch", "onnxruntime", [video_720p], 2) == 1
    assert machine_default("batch", "torch", [video_720p], 2) == 4
    assert machine_default("decode_processes", "torch", [video_720p], 16) == 3
    assert machine_default("decode_threads", "torch", [video_720p], 16) == 8
    assert machine_default("decode_processes", "torch", [video_720p], 4) == 0  # too few cores to spare
    assert machine_default("decode_processes", "torch", ["rtsp://127.0.0.1/x"], 16) == 0  # a live source
    assert machine_default("decode_processes", "onnxruntime", [video_720p], 16) == 0


def test_bench_live_plays_the_clip_as_cameras_so_a_gpu_host_decodes_in_process(video_720p, monkeypatch):
    import trafficpipe.bench.cli as bench_cli
    import trafficpipe.run_config as run_config
    from trafficpipe.cli import main
    seen = []
    monkeypatch.setattr(run_config, "cores_available", lambda: 16)  # a GPU host, where video files get child decoders
    monkeypatch.setattr(bench_cli, "run_live", lambda args, source, config: seen.append((source, config)) or 0)
    assert main(["bench", video_720p, "--engine", "torch", "--live", "8,16"]) == 0
    (source, config), = seen
    assert source == video_720p and config.decode_processes == 0 and config.decode_threads == 0


def test_resolve_fills_only_what_was_not_given(video_720p):
    args = build_parser().parse_args(["detect", video_720p, "--set", "preprocess_workers=3"])
    config = resolve(args, args.sources)
    assert config.engine == args.engine == "onnxruntime" and config.precision == "fp32"
    assert config.batch == 1 and config.preprocess_workers == 3 and config.decode_processes == 0
    assert config.tuned() == {"preprocess_workers": 3}
    with pytest.raises(AttributeError):
        config.batch = 2  # a run's settings are fixed once resolved


def test_the_command_line_reference_is_current():
    """docs/cli.md lists every option of every command as the parser has them (tools/cli_reference.py writes it)."""
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, os.path.join(root, "tools", "cli_reference.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
