"""`trafficpipe detect SRC... --processes N`: the sources spread over N processes, each running its own detector and
pipeline (one GIL each), all writing into the same output folder under the names one process would have given them."""
import argparse
import multiprocessing
import os
import signal
import time

from ..log import logger
from ..errors import TrafficpipeError
from ..stop_signals import held_while_starting, terminate_once, unblock_in_child
from .progress import progress_bar


def unique_names(uris):
    # type: (list) -> list
    """Output names of `uris` as one pipeline names them (the source name; repeats numbered), and as the parent's
    output checks named them (pipeline.inputs.planned_sources)."""
    from ..pipeline.inputs import planned_sources
    return [name for _, name, _ in planned_sources(uris)]


def _show(bar, progress):
    """Set the parent's progress bar to the frames all processes have written (and their total once all know it)."""
    totals = [t.value for _, t in progress]
    if all(t > 0 for t in totals):
        bar.total = sum(totals)
    bar.n = sum(w.value for w, _ in progress)
    bar.refresh()


def _child(args):
    import sys
    from .dispatch import run_command
    # Ctrl-C reaches the whole process group: the parent alone acts on it and sends each child one SIGTERM, which
    # stops the child's pipeline like Ctrl-C (outputs closed) — also when only the parent was signalled. Both were
    # blocked since this process began (the parent's held_while_starting): one that came meanwhile is handled now.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, terminate_once)
    _watch_parent(os.getppid())
    try:
        unblock_in_child()
    except KeyboardInterrupt:  # told to stop while starting: nothing was written
        sys.exit(143)
    sys.exit(run_command(args))


def _watch_parent(parent):
    """Stop this process as on SIGTERM once its parent is gone (killed outright): no orphan runs on."""
    import threading

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)
    t = threading.Thread(target=watch, name="parent-watch")
    t.daemon = True
    t.start()


def _start_child(ctx, args, k, n, names):
    """Start the process of share `k` of `n` (sources k, k+n, ...) and return it."""
    idx = list(range(k, len(args.sources), n))
    a = argparse.Namespace(**vars(args))
    a.sources = [args.sources[i] for i in idx]
    a.source_names = [names[i] for i in idx]
    a.processes = 1
    a.no_progress = True
    a.child_process = True
    a.progress = (ctx.RawValue("q", 0), ctx.RawValue("q", 0))  # frames written, frames expected (-1: unknown)
    p = ctx.Process(target=_child, args=(a,), name="trafficpipe-detect-%d" % k)
    p.start()
    p.progress = a.progress
    p.source_names = a.source_names
    logger.info("process {} (pid {}): {}", k, p.pid, ", ".join(a.source_names))
    return p


def _stop_children(procs):
    """Ctrl-C or SIGTERM here: each child still running is told to stop (SIGTERM, handled there as Ctrl-C)."""
    logger.warning("interrupted: stopping {} processes", len(procs))
    for q in procs:
        if q.is_alive():
            os.kill(q.pid, signal.SIGTERM)


def run_in_processes(args):
    # type: (argparse.Namespace) -> int
    """Run `args` (a parsed detect command) with its sources dealt round-robin over `args.processes` processes; the
    exit code is the first failing process's (each has written its own one-line error), else 0. On Ctrl-C each process
    is told to stop (SIGTERM, handled as Ctrl-C), closes its outputs, and this returns through KeyboardInterrupt."""
    n = min(args.processes, len(args.sources))
    names = unique_names(args.sources)
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no CUDA state or threads inherited
    procs = []
    t0 = time.time()
    interrupted = False
    try:
        with held_while_starting():  # a Ctrl-C to the process group meanwhile: the children start with it blocked
            for k in range(n):
                procs.append(_start_child(ctx, args, k, n, names))
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM while they started: those started are stopped
        interrupted = e
        _stop_children(procs)
    bar = progress_bar(None, args.no_progress)
    try:
        while True:
            try:
                alive = [p for p in procs if p.is_alive()]
                if not alive:
                    break
                alive[0].join(0.5)
                if bar is not None:
                    _show(bar, [p.progress for p in procs])
            except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (errors.Terminated)
                if not interrupted:
                    interrupted = e
                    _stop_children(procs)
    finally:
        if bar is not None:
            _show(bar, [p.progress for p in procs])
            bar.close()
    if interrupted:
        raise interrupted
    codes = [p.exitcode for p in procs]
    logger.info("{} processes finished in {:.2f}s (exit codes {})", n, time.time() - t0, codes)
    killed = [(k, -c) for k, c in enumerate(codes) if c is not None and c < 0]
    if killed:  # killed outright (a signal it did not handle): it wrote no line of its own
        k, sig = killed[0]
        raise TrafficpipeError("process %d (%s) was killed by signal %d; its outputs may be incomplete"
                               % (k, ", ".join(procs[k].source_names), sig))
    bad = [c for c in codes if c]
    return bad[0] if bad else 0
