"""Test helpers: running the trafficpipe command in a subprocess, as a user would, and reading videos back."""
import glob
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def one_error_line(p):
    """The one `trafficpipe...` line of a failed run's stderr (no traceback)."""
    lines = [l for l in p.stderr.splitlines() if l.startswith("trafficpipe")]
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr
    return lines[0]


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


def process_table():
    """{pid: (ppid, pgid, cmdline)} of every running process (a zombie, ended but not yet reaped, is left out)."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except (IOError, OSError):
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] == "Z":
            continue
        out[int(d)] = (int(fields[1]), int(fields[2]), cmd)
    return out


def descendants(pid):
    """Pids of the processes below `pid` now: its children, theirs, and so on."""
    table = process_table()
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        kids = [p for p, (ppid, _, _c) in table.items() if ppid == parent]
        found += kids
        todo += kids
    return found


def running(pids):
    """Those of `pids` still running."""
    table = process_table()
    return [p for p in pids if p in table]


def ring_files(pid=None):
    """The decode ring files in /dev/shm made by process `pid` (this one by default)."""
    from trafficpipe.sources.decoders.ring import RING_PREFIX, SHM_DIR
    return glob.glob(os.path.join(SHM_DIR, "%s%d-*" % (RING_PREFIX, pid or os.getpid())))
