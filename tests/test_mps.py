"""`--mps` (engines/mps.py): the private CUDA MPS daemon's life cycle, against a double of NVIDIA's control program
(tests/doubles/mps; the real one needs an NVIDIA driver, and runs in tests/gpu/test_gpu_mps.py), and its one-line errors."""
import os

import pytest

from cli_helpers import ROOT, run_cli

FAKE_BIN = os.path.join(ROOT, "tests", "doubles", "mps")


@pytest.fixture
def fake_mps(tmp_path, monkeypatch):
    """PATH leads to the double first; returns its call log."""
    log = tmp_path / "mps.log"
    monkeypatch.setenv("PATH", FAKE_BIN + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("FAKE_MPS_LOG", str(log))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("CUDA_MPS_PIPE_DIRECTORY", raising=False)
    monkeypatch.delenv("CUDA_MPS_LOG_DIRECTORY", raising=False)
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR is read again
    return log


def test_private_daemon_serves_the_block_and_is_stopped_after(fake_mps, tmp_path):
    from trafficpipe.engines.mps import daemon_pids, mps_daemon
    with mps_daemon() as pipe:
        assert os.environ["CUDA_MPS_PIPE_DIRECTORY"] == pipe and pipe.startswith(str(tmp_path))
        assert os.path.isdir(os.environ["CUDA_MPS_LOG_DIRECTORY"])
        assert os.path.exists(os.path.join(pipe, "control"))
        # one daemon (the double's shell loop forks for each `sleep`: a child seen in that instant looks like a
        # second daemon process, so one look of several sees the one alone)
        assert any(len(daemon_pids(pipe)) == 1 for _ in range(100))
    calls = fake_mps.read_text().splitlines()
    assert calls[0] == "call -d pipe=%s log=%s" % (pipe, os.path.join(os.path.dirname(pipe), "log"))
    assert calls[1:] == ["call stdin pipe=%s log=%s" % (pipe, os.path.join(os.path.dirname(pipe), "log")),
                         "command quit", "daemon stopped"]
    assert daemon_pids(pipe) == [] and not os.path.exists(os.path.dirname(pipe))
    assert "CUDA_MPS_PIPE_DIRECTORY" not in os.environ and "CUDA_MPS_LOG_DIRECTORY" not in os.environ


def test_the_daemon_is_stopped_when_the_block_fails(fake_mps):
    from trafficpipe.engines.mps import daemon_pids, mps_daemon
    with pytest.raises(KeyboardInterrupt):
        with mps_daemon() as pipe:
            raise KeyboardInterrupt()
    assert fake_mps.read_text().splitlines()[-2:] == ["command quit", "daemon stopped"]
    assert daemon_pids(pipe) == [] and "CUDA_MPS_PIPE_DIRECTORY" not in os.environ


def test_a_running_daemon_is_used_not_started(fake_mps, tmp_path, monkeypatch):
    from trafficpipe.engines.mps import mps_daemon
    pipe = tmp_path / "user-mps"
    pipe.mkdir()
    (pipe / "control").write_text("")
    monkeypatch.setenv("CUDA_MPS_PIPE_DIRECTORY", str(pipe))
    with mps_daemon() as got:
        assert got == str(pipe)
    assert not fake_mps.exists() and os.environ["CUDA_MPS_PIPE_DIRECTORY"] == str(pipe)


def test_detect_stops_the_daemon_when_its_processes_fail(fake_mps, video_360p, tmp_path):
    """No GPU here: both processes fail to build the torch engine on CUDA (each says so in one line), and the daemon
    started for them is still told to quit."""
    proc = run_cli("detect", video_360p, video_360p, "--processes", "2", "--mps", "--engine", "torch", "--precision",
                   "fp16", "--max-frames", "4", "--out", tmp_path / "out", "--no-progress")
    assert proc.returncode != 0
    calls = fake_mps.read_text().splitlines()
    assert calls[0].startswith("call -d pipe=") and calls[-2:] == ["command quit", "daemon stopped"], calls
    assert not [p for p in os.listdir(str(tmp_path)) if p.startswith("trafficpipe-mps-")]


def test_a_daemon_that_does_not_start_is_one_line(fake_mps, video_360p, tmp_path):
    proc = run_cli("bench", video_360p, "--engine", "torch", "--mps", "--frames", "4", "--repeat", "1",
                   env={"FAKE_MPS_FAIL": "1"})
    err = [l for l in proc.stderr.strip().splitlines() if " INFO " not in l]
    assert proc.returncode == 2 and len(err) == 1, proc.stderr
    assert "--mps: the CUDA MPS daemon did not start" in err[0] and "already running" in err[0], err


def test_mps_without_nvidias_program_is_one_line(video_360p, tmp_path):
    proc = run_cli("detect", video_360p, video_360p, "--processes", "2", "--mps", "--engine", "torch", "--out",
                   tmp_path, "--no-progress", env={"PATH": str(tmp_path)})
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1 and "nvidia-cuda-mps-control" in err[0], proc.stderr


def test_mps_with_a_cpu_engine_is_one_line(video_360p, tmp_path):
    proc = run_cli("detect", video_360p, video_360p, "--processes", "2", "--mps", "--out", tmp_path, "--no-progress")
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1 and "--engine torch or tensorrt, not onnxruntime" in err[0], err


def test_a_process_that_is_a_client_itself_leaves_the_quit_running(fake_mps, monkeypatch):
    """A bench touches CUDA in its own process, and the real daemon's "quit" returns only when every client has gone:
    the block ends at once, and the quit (then the removal of the daemon's folder) completes in its own process."""
    import time
    from trafficpipe.engines import mps
    from trafficpipe.log import logger
    said = []
    sink = logger.add(lambda m: said.append(m.record["message"]), level="INFO")
    monkeypatch.setattr(mps, "_uses_cuda", lambda: True)
    try:
        with mps.mps_daemon() as pipe:
            pass
    finally:
        logger.remove(sink)
    assert said[-1] == "CUDA MPS: the daemon quits once this process has ended", said
    deadline = time.time() + 10
    while (mps.daemon_pids(pipe) or os.path.exists(os.path.dirname(pipe))) and time.time() < deadline:
        time.sleep(0.05)
    assert mps.daemon_pids(pipe) == [] and not os.path.exists(os.path.dirname(pipe))
    assert fake_mps.read_text().splitlines()[-2:] == ["command quit", "daemon stopped"]
