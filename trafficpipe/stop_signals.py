"""Ctrl-C (SIGINT) and SIGTERM around child processes: a terminal and `timeout` signal the whole process group, so a
child being started would get the signal while it imports its first modules and end with a traceback. The parent
holds both signals while it starts children (`held_while_starting`): the children begin life with them blocked (a
signal mask outlives fork and exec) and unblock them once they have their own handlers; the parent handles what came
meanwhile right after."""
import contextlib
import os
import signal
import threading

from .errors import Terminated

#: the signals that stop a run (Ctrl-C; docker stop, `timeout`, systemd)
STOP_SIGNALS = ("SIGINT", "SIGTERM")


def terminate_once(signum, frame):
    """A SIGTERM handler: raises Terminated (a KeyboardInterrupt) so the run ends as on Ctrl-C; later SIGTERMs are
    ignored while it finishes its outputs."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


def _numbers():
    return [getattr(signal, n) for n in STOP_SIGNALS]


@contextlib.contextmanager
def held_while_starting():
    """Hold SIGINT and SIGTERM while the body starts child processes: they are blocked in this thread (the children
    inherit the mask) and their handlers replaced by ones that note them; on leaving, the mask and handlers are
    restored and each signal noted is sent again to this process's own handler. Outside the main thread: no effect."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = []
    handlers = {}
    for sig in _numbers():
        if signal.getsignal(sig) not in (signal.SIG_IGN, None):
            handlers[sig] = signal.signal(sig, lambda signum, frame: held.append(signum))
    mask = None
    if hasattr(signal, "pthread_sigmask"):
        _tracker_running()  # starting it would unblock these signals in this thread (multiprocessing's own doing)
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _numbers())
    try:
        yield
    finally:
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # one that came meanwhile is held now (below)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        for signum in sorted(set(held)):
            os.kill(os.getpid(), signum)  # to its own handler now


def unblock_in_child():
    """In a child started under `held_while_starting`, once its handlers are set: a signal that came while it started
    is handled now."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _numbers())


def _tracker_running():
    """Start multiprocessing's resource tracker process now, if it is not running (spawning a child would start it)."""
    try:
        from multiprocessing import resource_tracker as tracker
    except ImportError:  # Python < 3.8
        try:
            from multiprocessing import semaphore_tracker as tracker
        except ImportError:
            return
    try:
        tracker.ensure_running()
    except Exception:  # not started here: the children's start does it, as without this
        pass


__all__ = ["STOP_SIGNALS", "held_while_starting", "terminate_once", "unblock_in_child"]
