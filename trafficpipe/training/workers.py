"""The data-loading processes of `trafficpipe train`: spawned processes that leave Ctrl-C and SIGTERM to the main
process. A terminal and `timeout` signal the whole process group; a worker killed by the signal would add a second
error and a traceback (its own, or the DataLoader's "worker killed by signal") to the one line the main process
prints. Torch-free: a spawned worker imports this module first (its Process class lives here), before torch."""
import multiprocessing
import os
import signal

from ..stop_signals import STOP_SIGNALS, held_while_starting, unblock_in_child

#: set, while the main process starts its workers, to the signals they ignore from their first moment (until
#: `quiet_on` has them end quietly instead)
IGNORE_SIGNALS_ENV = "TRAFFICPIPE_IGNORE_SIGNALS"


def _ignore_from_the_start():
    sigs = []
    for name in (os.environ.get(IGNORE_SIGNALS_ENV) or "").split(","):
        sig = getattr(signal, name.strip(), None) if name.strip() else None
        if sig is not None:
            signal.signal(sig, signal.SIG_IGN)  # drops one that came while they were blocked
            sigs.append(sig)
    if sigs:  # blocked since the process began (`started`): no longer needed
        unblock_in_child()


_ignore_from_the_start()  # in a worker being started: before its unpickling imports torch (seconds)


class QuietSpawnProcess(multiprocessing.get_context("spawn").Process):
    """A spawned process whose class, pickled by reference, brings this module in first as it starts."""


class QuietSpawnContext(type(multiprocessing.get_context("spawn"))):
    """The spawn start method with QuietSpawnProcess (DataLoader(multiprocessing_context=...))."""

    Process = QuietSpawnProcess


def handled_signals():
    # type: () -> tuple
    """The STOP_SIGNALS this process does not ignore (one ignored here, as under nohup, stays ignored in its workers)."""
    return tuple(n for n in STOP_SIGNALS if signal.getsignal(getattr(signal, n)) != signal.SIG_IGN)


def quiet_on(names):
    """In a worker (its worker_init_fn): end at once, exit status 0, on the signals named: the main process ends the
    run and says so."""
    for name in names:
        signal.signal(getattr(signal, name), _quiet_exit)


def _quiet_exit(signum, frame):
    os._exit(0)


def started(loader):
    """iter(loader), its worker processes (if any) started with STOP_SIGNALS ignored from their first moment (then
    `quiet_on`). A stop signal reaching this process meanwhile waits until they are started (a worker cut off while
    it reads what it is to run says so in a traceback, and one left waiting for it would block the exit), then is
    handled as always. The workers begin life with those signals blocked (a signal mask outlives fork and exec), so
    one sent to the process group while they import their first modules, before this module has them ignored,
    cannot end them with a traceback."""
    if not loader.num_workers:
        return iter(loader)
    before = os.environ.get(IGNORE_SIGNALS_ENV)
    os.environ[IGNORE_SIGNALS_ENV] = ",".join(STOP_SIGNALS)
    try:
        with held_while_starting():
            return iter(loader)
    finally:
        if before is None:
            os.environ.pop(IGNORE_SIGNALS_ENV, None)
        else:
            os.environ[IGNORE_SIGNALS_ENV] = before


def stop(loader):
    """Shut `loader`'s worker processes down now (the run was stopped): DataLoader's own check that reports a worker
    ended by a signal (also the one that stopped the run) is dropped first, so the stop is told in one line."""
    from ..log import logger
    it = getattr(loader, "_iterator", None)  # persistent workers: DataLoader keeps its iterator
    if it is None or not hasattr(it, "_shutdown_workers"):
        return
    for _ in range(3):  # that check may still fire once, from a worker ended just before
        try:
            from torch.utils.data._utils import signal_handling
            if getattr(it, "_worker_pids_set", False):
                signal_handling._remove_worker_pids(id(it))
                it._worker_pids_set = False
            it._shutdown_workers()
            return
        except RuntimeError:
            continue
        except Exception:  # a private interface of another torch: its own shutdown at exit does the work
            logger.debug("stopping the data-loading processes", exc_info=True)
            return
