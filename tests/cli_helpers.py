"""Test helpers: running the trafficpipe command in a subprocess, as a user would, and reading videos back."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args, **kw):
    """Run `python -m trafficpipe ARGS` in a subprocess; returns CompletedProcess with text stdout/stderr."""
    import subprocess
    env = dict(os.environ)
    env.update(kw.pop("env", {}))
    return subprocess.run([sys.executable, "-m", "trafficpipe"] + [str(a) for a in args], cwd=kw.pop("cwd", ROOT),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                          timeout=kw.pop("timeout", 300))


def read_frames(path, n=None):
    """The first `n` decoded frames of a video (all when None)."""
    import cv2
    cap = cv2.VideoCapture(str(path))
    out = []
    while n is None or len(out) < n:
        ok, img = cap.read()
        if not ok:
            break
        out.append(img)
    cap.release()
    return out
