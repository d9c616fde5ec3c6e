"""CUDA MPS (Multi-Process Service) for runs that put several processes on one GPU (`--mps`).

Without it, each process has its own CUDA context and the GPU time-slices between them: a process's small kernels wait
for another's slice, and four one-source processes on an H200 reached only 3.0x one process (360p, YOLOX-nano). With
MPS the processes' work goes through one server and runs side by side (4.06x on the same machine; see
docs/benchmarks.md, "several sources, one process each").

`mps_daemon()` uses a daemon that already serves this process (CUDA_MPS_PIPE_DIRECTORY, or the default /tmp/nvidia-mps,
holding its `control` pipe); otherwise it starts a private one (`nvidia-cuda-mps-control -d` with its own pipe and log
folders under a temporary folder, so nothing else on the machine becomes its client), points this process and the
processes it starts at it through the environment, and stops it ("quit") when the block ends, also on errors and Ctrl-C.
It changes none of the GPU's settings (compute mode stays as it is). It must be entered before this process first
touches CUDA. It needs NVIDIA's `nvidia-cuda-mps-control` on the PATH (part of the driver's utilities on desktop and
data-centre Linux); where that is missing, `--mps` fails in one line before anything runs.
"""
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

from ..errors import EngineError, first_line
from ..log import logger

CONTROL = "nvidia-cuda-mps-control"
DEFAULT_PIPE_DIRECTORY = "/tmp/nvidia-mps"
_ENV = ("CUDA_MPS_PIPE_DIRECTORY", "CUDA_MPS_LOG_DIRECTORY")
_quitters = []  # the processes telling daemons to quit (kept: they may outlive the block, and this process)


def running_daemon():
    # type: () -> str
    """The pipe folder of an MPS daemon this process would already use, or "" (none)."""
    pipe = os.environ.get("CUDA_MPS_PIPE_DIRECTORY") or DEFAULT_PIPE_DIRECTORY
    return pipe if os.path.exists(os.path.join(pipe, "control")) else ""


@contextlib.contextmanager
def mps_daemon(enabled=True, engine=None, timeout=30.0):
    """Run the block with an MPS daemon serving this process and its children (see the module's docstring); yields its
    pipe folder ("" when not `enabled`). EngineError (one line) first where `engine` (the --engine name, if given)
    does not run on a GPU: MPS only shares GPU work."""
    if not enabled:
        yield ""
        return
    if engine is not None and engine not in ("torch", "tensorrt", "auto"):
        raise EngineError("--mps shares one GPU between processes: it needs --engine torch or tensorrt, not %s" % engine)
    pipe = running_daemon()
    if pipe:
        logger.info("CUDA MPS: using the daemon already running ({})", pipe)
        yield pipe
        return
    exe = shutil.which(CONTROL)
    if exe is None:
        raise EngineError("--mps needs NVIDIA's %s (the driver's utilities), which is not on the PATH" % CONTROL)
    root = tempfile.mkdtemp(prefix="trafficpipe-mps-")
    env = dict(os.environ, CUDA_MPS_PIPE_DIRECTORY=os.path.join(root, "pipe"),
               CUDA_MPS_LOG_DIRECTORY=os.path.join(root, "log"))
    for key in _ENV:
        os.makedirs(env[key])
    try:
        done = subprocess.run([exe, "-d"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        said = (done.stderr or done.stdout).decode(errors="replace").strip()
        failed = done.returncode != 0 and (said.splitlines()[0] if said else "exit code %d" % done.returncode)
    except (OSError, subprocess.SubprocessError) as e:
        failed = first_line(e)
    if failed:
        shutil.rmtree(root, ignore_errors=True)
        raise EngineError("--mps: the CUDA MPS daemon did not start (%s -d: %s)" % (CONTROL, failed))
    saved = {key: os.environ.get(key) for key in _ENV}
    os.environ.update({key: env[key] for key in _ENV})
    logger.info("CUDA MPS: private daemon started (pipe {})", env["CUDA_MPS_PIPE_DIRECTORY"])
    try:
        yield env["CUDA_MPS_PIPE_DIRECTORY"]
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _quit(exe, env, root, timeout)


def daemon_pids(pipe):
    # type: (str) -> list
    """Processes of the MPS daemon (control and server) serving `pipe`: those named nvidia-cuda-mps-* whose environment
    points at it (Linux /proc; [] where it cannot be read)."""
    want = ("CUDA_MPS_PIPE_DIRECTORY=" + pipe).encode()
    pids = []
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if b"nvidia-cuda-mps" not in f.read():
                    continue
            with open("/proc/%s/environ" % pid, "rb") as f:
                if want in f.read().split(b"\0"):
                    pids.append(int(pid))
        except (IOError, OSError):  # gone meanwhile, or another user's
            continue
    return pids


def _uses_cuda():
    # type: () -> bool
    """True once this process has a CUDA context (torch's or the GPU runtime's): it is then an MPS client itself."""
    torch = sys.modules.get("torch")
    if torch is not None and getattr(torch.cuda, "is_initialized", lambda: False)():
        return True
    runtime = sys.modules.get("trafficpipe.engines.gpu_runtime")
    return bool(runtime is not None and runtime.CudaRuntime.any_open())


def _quit(exe, env, root, timeout):
    """Tell the daemon to quit, and remove `root` once it has. The daemon's "quit" returns only when every client has
    gone, this process included where it touched CUDA (a bench), so it runs in a process of its own that outlives this
    one if need be; where this process is no client (detect --processes), wait here until the daemon is gone."""
    try:
        _quitters.append(subprocess.Popen(
            ["/bin/sh", "-c", 'echo quit | "$0" > /dev/null 2>&1; rm -rf "$1"', exe, root], env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
    except OSError as e:
        logger.warning("CUDA MPS: the daemon was not told to quit ({})", first_line(e))
        return
    if _uses_cuda():
        logger.info("CUDA MPS: the daemon quits once this process has ended")
        return
    pipe = env["CUDA_MPS_PIPE_DIRECTORY"]
    deadline = time.time() + timeout
    while (daemon_pids(pipe) or os.path.exists(root)) and time.time() < deadline:
        time.sleep(0.05)
    left = daemon_pids(pipe)
    if left:
        logger.warning("CUDA MPS: the daemon (pids {}) has not quit after {:.0f} s", left, timeout)
    else:
        logger.info("CUDA MPS: daemon stopped")
