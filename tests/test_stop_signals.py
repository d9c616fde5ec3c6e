"""Stop signals around child processes (`trafficpipe/stop_signals.py`): children started under `held_while_starting`
begin with SIGINT and SIGTERM blocked, and a signal that reaches the parent meanwhile is handled right after."""
import os
import signal
import subprocess
import sys

from trafficpipe.stop_signals import held_while_starting


def _blocked(status_text):
    mask = int([line for line in status_text.splitlines() if line.startswith("SigBlk:")][0].split()[1], 16)
    return set(s for s in (signal.SIGINT, signal.SIGTERM) if mask & (1 << (s - 1)))


def test_children_start_with_the_stop_signals_blocked_and_the_parents_signal_waits():
    got = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: got.append(signum))
    try:
        with held_while_starting():
            child = subprocess.run([sys.executable, "-c", "print(open('/proc/self/status').read())"],
                                   stdout=subprocess.PIPE, universal_newlines=True, check=True)
            os.kill(os.getpid(), signal.SIGTERM)  # a group signal while the child starts
            held = list(got)
        after = list(got)
        outside = subprocess.run([sys.executable, "-c", "print(open('/proc/self/status').read())"],
                                 stdout=subprocess.PIPE, universal_newlines=True, check=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert _blocked(child.stdout) == {signal.SIGINT, signal.SIGTERM}
    assert held == [] and after == [signal.SIGTERM]  # handled once, after the children started
    assert _blocked(outside.stdout) == set()
