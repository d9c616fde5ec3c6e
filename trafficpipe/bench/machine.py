"""What machine a bench ran on: CPU model and cores, load, GPU name, library versions."""
import os
import platform
import subprocess
import sys

from .. import __version__
from ..cpu import cores_available


def cpu_model():
    # type: () -> str
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform reports."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except (IOError, OSError):
        pass
    return platform.processor() or platform.machine()


def load_avg():
    # type: () -> list
    """The 1, 5 and 15 minute load averages (empty where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return []


def gpu_name(engine):
    # type: (str) -> str
    """The CUDA device's name when `engine` is a GPU engine and torch or pycuda reports one; None otherwise.

    torch and pycuda are imported only for GPU engines, so a CPU bench never loads them.
    """
    if engine not in ("torch", "tensorrt"):
        return None
    try:
        import torch
        if torch.cuda.is_available():
            return torch.cuda.get_device_name(torch.cuda.current_device())
    except Exception:  # noqa: B902 - any import or driver failure just means "not reported"
        pass
    try:
        import pycuda.driver as cuda
        cuda.init()
        if cuda.Device.count():
            return cuda.Device(0).name()
    except Exception:  # noqa: B902
        pass
    return None


def library_versions():
    # type: () -> dict
    """Versions of the libraries on the hot path; GPU libraries only when already imported by the engine."""
    out = {"python": platform.python_version(), "trafficpipe": __version__}
    import cv2
    import numpy
    out["numpy"] = numpy.__version__
    out["opencv"] = cv2.__version__
    try:
        import onnxruntime
        out["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    for mod in ("torch", "tensorrt", "pycuda", "onnx2torch"):
        m = sys.modules.get(mod)
        if m is not None:
            out[mod] = getattr(m, "VERSION_TEXT", None) or getattr(m, "__version__", "?")
    return out


def git_commit(path=None):
    # type: (str) -> str
    """The git commit of the trafficpipe checkout (with "+dirty" when modified), or None outside a checkout."""
    root = path or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        with open(os.devnull, "w") as null:
            rev = subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=root, stderr=null)
            dirty = subprocess.check_output(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                            stderr=null)
        return rev.decode().strip() + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def describe_machine(engine, gpu=None):
    # type: (str, str) -> dict
    """CPU model, logical cores, cores available, memory, OS, GPU (GPU engines; `gpu` = the engine's own report),
    library versions, git commit."""
    import cv2
    from ..sources.video import decode_threads, decoder
    mem = None
    try:
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / float(1 << 30), 1)
    except (AttributeError, ValueError, OSError):
        pass
    return {"cpu_model": cpu_model(), "cpu_count": os.cpu_count() or 1, "cores_available": cores_available(),
            "memory_gib": mem, "os": platform.platform(),
            "gpu": gpu or gpu_name(engine), "opencv_threads": cv2.getNumThreads(),
            "decode_threads": decode_threads(), "decoder": decoder()[0],
            "libraries": library_versions(), "git_commit": git_commit()}
