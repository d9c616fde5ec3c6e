"""Stop flag, first-error capture and the worker-thread runner shared by every stage."""
import sys
import threading

from ..log import logger
from .queues import Stopped


class Control(object):
    """Shared by all stages. `stop`: every stage ends now (the first error, Ctrl-C, a drain past its time);
    `end_input`: the sources read no more frames and end, while the frames already read go on to the writer
    (`Pipeline.stop()`); `stop` sets it too, through `halt()` or `fail()`."""

    def __init__(self):
        self.stop = threading.Event()
        self.end_input = threading.Event()
        self.error = None  # type: BaseException
        self.error_stage = None  # type: str
        self._lock = threading.Lock()

    def fail(self, exc, stage):
        """Record `exc` if it is the first error, and stop every stage."""
        with self._lock:
            if self.error is None:
                self.error = exc
                self.error_stage = stage
                logger.debug("stage {} failed: {!r}", stage, exc)
        self.halt()

    def halt(self):
        """Stop every stage now (frames between capture and the writer are not written)."""
        self.end_input.set()
        self.stop.set()


class Stage(object):
    """A named stage running `work(worker_id)` in `workers` threads. Errors go to `control.fail`."""

    name = "stage"

    def __init__(self, control, workers=1, name=None):
        from .metrics import StageStats
        self.control = control
        self.workers = max(1, int(workers))
        if name:
            self.name = name
        self.stats = StageStats(self.name, self.workers)
        self.threads = []  # type: list
        self.ended = threading.Event()  # set once every worker has ended (finish() done)
        self._running = 0
        self._count_lock = threading.Lock()

    def start(self):
        self.threads = [threading.Thread(target=self._run, args=(i,), name="%s-%d" % (self.name, i))
                        for i in range(self.workers)]
        self._running = len(self.threads)
        for t in self.threads:
            t.daemon = True
            t.start()

    def _run(self, wid):
        from .metrics import thread_time
        cpu0 = thread_time() if thread_time is not None else None
        try:
            self.work(wid)
        except Stopped:
            pass
        except BaseException as e:  # noqa: B902 - any failure stops the pipeline and is re-raised by run()
            if getattr(e, "__traceback__", None) is None:
                e.__traceback__ = sys.exc_info()[2]
            self.control.fail(e, self.name)
        finally:
            try:
                self.finish(wid)
            except BaseException as e:  # noqa: B902
                self.control.fail(e, self.name)
            if cpu0 is not None:  # this thread's own CPU time (not that of native threads it drives, e.g. FFmpeg's)
                self.stats.add_thread_cpu(thread_time() - cpu0)
            with self._count_lock:
                self._running -= 1
                if self._running == 0:
                    self.ended.set()

    def work(self, wid):
        raise NotImplementedError

    def finish(self, wid):
        """Called in each worker thread when it ends, error or not (close what the worker owns)."""

    def alive(self):
        # type: () -> bool
        return any(t.is_alive() for t in self.threads)

    def join(self, timeout):
        for t in self.threads:
            if t.ident is not None:  # a Ctrl-C during start() leaves later threads never started
                t.join(timeout)
