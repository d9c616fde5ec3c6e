"""Per-stage timing: one mechanism shared by the pipeline summary and `trafficpipe bench`."""
import random
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


class Reservoir(object):
    """A bounded uniform sample of a stream of values (Vitter's algorithm R): percentiles of a run of any length in
    constant memory, exact while the run has no more than `size` values. `count` and `total` cover every value."""

    __slots__ = ("size", "values", "count", "total", "_rng")

    def __init__(self, size=4096, seed=0):
        self.size = int(size)
        self.values = []  # type: list
        self.count = 0
        self.total = 0.0
        self._rng = random.Random(seed)

    def add(self, x):
        self.count += 1
        self.total += x
        if len(self.values) < self.size:
            self.values.append(x)
        else:
            j = self._rng.randrange(self.count)
            if j < self.size:
                self.values[j] = x

    def percentiles(self, qs=(50, 95, 99), scale=1.0):
        # type: (tuple, float) -> dict
        return percentiles([v * scale for v in self.values], qs)


def merged_percentiles(reservoirs, qs=(50, 95, 99), scale=1.0):
    # type: (list, tuple, float) -> dict
    """Percentiles over several reservoirs, each sample weighted by the share of the stream it stands for."""
    vals, weights = [], []
    for r in reservoirs:
        if r.values:
            vals.extend(r.values)
            weights.extend([float(r.count) / len(r.values)] * len(r.values))
    if not vals:
        return {"p%d" % q: 0.0 for q in qs}
    if all(w == weights[0] for w in weights):
        return percentiles([v * scale for v in vals], qs)
    order = np.argsort(vals)
    v = np.asarray(vals, np.float64)[order] * scale
    cum = np.cumsum(np.asarray(weights)[order])
    cum /= cum[-1]
    return {"p%d" % q: float(v[min(len(v) - 1, int(np.searchsorted(cum, q / 100.0)))]) for q in qs}


#: per-item samples a StageStats keeps as they are (bench plots and ceilings); past that only sums and a reservoir
KEEP_SAMPLES = 20000


class StageStats(object):
    """Work done by one stage: a duration per work item (a frame, or a batch slot) and the frames it covered.

    `durations` are the stage thread's busy time per item; `latencies` the time each item spent in the stage, which
    differs where the stage hands work to an asynchronous engine (inference: submit to collected, other slots' runs
    overlapping). `record` is called from the stage's worker threads. Memory stays bounded however long the run:
    the per-item lists keep the first `keep` items (None: all), the summary comes from running sums and a bounded
    reservoir of latencies.
    """

    def __init__(self, name, workers=1, keep=KEEP_SAMPLES):
        self.name = name
        self.workers = workers
        self.keep = keep
        self.durations = []  # type: list
        self.frames = []  # type: list
        self.latencies = []  # type: list
        self.items = 0
        self.busy = 0.0
        self.n_frames = 0
        self.latency = Reservoir()
        self.cpu_s = None  # type: float  # CPU time of the stage's threads over the run (None where unknown)

    def add_thread_cpu(self, seconds):
        """Add one worker thread's CPU time (called once per thread, at its end)."""
        self.cpu_s = (self.cpu_s or 0.0) + seconds

    def record(self, seconds, frames=1, latency=None):
        """One work item: `seconds` of this thread's time covering `frames` frames (`latency`: time in the stage,
        when it differs from `seconds`)."""
        lat = seconds if latency is None else latency
        self.items += 1
        self.busy += seconds
        self.n_frames += frames
        self.latency.add(lat)
        if self.keep is None or len(self.durations) < self.keep:
            self.durations.append(seconds)
            self.frames.append(frames)
            self.latencies.append(lat)

    def summary(self, wall):
        # type: (float) -> dict
        """Items, frames, busy time and fraction (of wall x workers), busy ms per frame, latency per item."""
        busy = float(self.busy)
        n_frames = int(self.n_frames)
        per_item = self.latency.percentiles(scale=1000.0)
        cpu = self.cpu_s
        return {"workers": self.workers, "items": self.items, "frames": n_frames, "busy_s": busy,
                "busy_fraction": busy / (wall * self.workers) if wall > 0 else 0.0,
                "ms_per_frame": busy * 1000.0 / n_frames if n_frames else 0.0,
                "cpu_s": cpu, "cpu_ms_per_frame": (cpu * 1000.0 / n_frames if n_frames else 0.0) if cpu is not None
                else None, "latency_ms": per_item}
