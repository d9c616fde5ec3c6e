"""Running the trafficpipe command in a subprocess, as a user would."""
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
