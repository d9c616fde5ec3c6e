"""Per-stage timing: one mechanism shared by the pipeline summary and `trafficpipe bench`."""
import time

import numpy as np

#: CPU time of the calling thread (Python 3.7+); None on 3.6, where stage CPU time is not reported
thread_time = getattr(time, "thread_time", None)


def percentiles(values, qs=(50, 95, 99)):
    # type: (list, tuple) -> dict
    """{"p50": .., "p95": .., "p99": ..} of `values` (linear interpolation); zeros when empty."""
    if len(values) == 0:
        return {"p%d" % q: 0.0 for q in qs}
    arr = np.asarray(values, np.float64)
    return {"p%d" % q: float(v) for q, v in zip(qs, np.percentile(arr, qs))}


class StageStats(object):
    """Work done by one stage: a duration per work item (a frame, or a batch slot) and the frames it covered.

    `durations` are the stage thread's busy time per item; `latencies` the time each item spent in the stage, which
    differs where the stage hands work to an asynchronous engine (inference: submit to collected, other slots' runs
    overlapping). `record` is called from the stage's worker threads; list.append is atomic under the GIL.
    """

    def __init__(self, name, workers=1):
        self.name = name
        self.workers = workers
        self.durations = []  # type: list
        self.frames = []  # type: list
        self.latencies = []  # type: list
        self.cpu_s = None  # type: float  # CPU time of the stage's threads over the run (None where unknown)

    def add_thread_cpu(self, seconds):
        """Add one worker thread's CPU time (called once per thread, at its end)."""
        self.cpu_s = (self.cpu_s or 0.0) + seconds

    def record(self, seconds, frames=1, latency=None):
        """One work item: `seconds` of this thread's time covering `frames` frames (`latency`: time in the stage,
        when it differs from `seconds`)."""
        self.durations.append(seconds)
        self.frames.append(frames)
        self.latencies.append(seconds if latency is None else latency)

    def summary(self, wall):
        # type: (float) -> dict
        """Items, frames, busy time and fraction (of wall x workers), busy ms per frame, latency per item."""
        busy = float(sum(self.durations))
        n_frames = int(sum(self.frames))
        per_item = percentiles([d * 1000.0 for d in self.latencies])
        cpu = self.cpu_s
        return {"workers": self.workers, "items": len(self.durations), "frames": n_frames, "busy_s": busy,
                "busy_fraction": busy / (wall * self.workers) if wall > 0 else 0.0,
                "ms_per_frame": busy * 1000.0 / n_frames if n_frames else 0.0,
                "cpu_s": cpu, "cpu_ms_per_frame": (cpu * 1000.0 / n_frames if n_frames else 0.0) if cpu is not None
                else None, "latency_ms": per_item}
