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


def _default_sigint():
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_cli(*args, **kw):
    """Start `python -m trafficpipe ARGS` in the background (text pipes for stdout/stderr unless given). Ctrl-C
    (SIGINT) reaches it as it reaches a command in a terminal, also where the test run itself ignores SIGINT (a
    runner started as a background job of a shell inherits SIGINT ignored, and so would every child)."""
    import subprocess
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("universal_newlines", True)
    return subprocess.Popen([sys.executable, "-m", "trafficpipe"] + [str(a) for a in args], cwd=kw.pop("cwd", ROOT),
                            preexec_fn=_default_sigint, **kw)


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


def damaged_copy(path, folder, name="damaged.mp4", start=0.6, end=1.0):
    """A copy of the MP4 at `path` in `folder` whose picture data from `start` to `end` (fractions of the way to the
    moov box) is zeroed: frames there do not decode, the others do."""
    data = bytearray(open(str(path), "rb").read())
    moov = data.find(b"moov") - 4
    a, b = int(moov * start), int(moov * end)
    data[a:b] = b"\0" * (b - a)
    bad = folder / name
    bad.write_bytes(bytes(data))
    return bad


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def descendants(pid):
    """Pids of the processes below `pid` now: its children, theirs, and so on."""
    import subprocess
    found, todo = [], [pid]
    while todo:
        r = subprocess.run(["pgrep", "-P", str(todo.pop())], stdout=subprocess.PIPE, universal_newlines=True)
        kids = [int(x) for x in r.stdout.split()]
        found += kids
        todo += kids
    return found


def running(pids):
    """Those of `pids` still running (a zombie, ended but not yet reaped, is not)."""
    left = []
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                stat = f.read()
        except (IOError, OSError):
            continue
        if stat[stat.rindex(")") + 2:].split()[0] != "Z":
            left.append(pid)
    return left
