"""Live capacity: how many real-time cameras one pipeline serves, with files replayed as cameras (`replay://`).

For each count N (ascending), N replayed copies of the clip run at their native rate for `seconds`, their frame
instants spread over one frame period (cameras are not in step). A count is served when every frame of every camera
was written (none dropped by a drop-oldest queue, none lost because a reader fell behind) and the p99 capture ->
output latency, counted from when each frame was due, is at most `max_p99_ms`. The capacity is the largest count
served; the ramp stops after the first count that is not.
"""
import math
import os
import shutil
import tempfile
import time

from ..log import logger
from ..pipeline import Pipeline
from ..run_config import RunConfig
from ..sources.replay import ReplaySource

SCHEMA = "trafficpipe-live-capacity/1"


def _cameras(path, n):
    sources = []
    try:
        for k in range(n):
            src = ReplaySource(path, name="camera%02d" % k, phase=float(k) / n)
            src.open()
            sources.append(src)
    except BaseException:
        for s in sources:
            s.close()
        raise
    return sources


def run_count(path, detector, n, seconds, outputs, out_dir, config, track=False, tiles=None):
    # type: (str, object, int, float, tuple, str, RunConfig, bool, object) -> dict
    """One step of the ramp: N replayed cameras for `seconds` with the run's settings `config` (and the tracker on
    each camera with `track`, tiled inference with `tiles`, a TilePlan); frames, drops, latency and fps."""
    sources = _cameras(path, n)
    fps = sources[0].fps
    frames = max(1, int(round(seconds * fps)))
    folder = os.path.join(out_dir, "n%d" % n)
    steps = None
    if track:  # as bench --track and detect --track: ByteTrack per camera, its time the `track` stage
        from ..tracking.steps import tracking_steps
        steps = tracking_steps(None)
    pipe = Pipeline(sources, detector, config.replace(max_frames=frames), out_dir=folder if outputs else None,
                    outputs=outputs, steps=steps, tiles=tiles)
    t0 = time.time()
    summary = pipe.run()
    shutil.rmtree(folder, ignore_errors=True)
    lat = summary.latency_ms
    worst = max(summary.sources, key=lambda s: s["latency_ms"]["p99"])
    return {"streams": n, "stream_fps": fps, "frames_per_stream": frames, "expected_frames": n * frames,
            "frames_out": summary.frames_out, "dropped": summary.dropped,
            "lost_by_readers": sum(s.get("late", 0) for s in summary.sources),
            "latency_ms": lat, "worst_stream_p99_ms": worst["latency_ms"]["p99"], "wall_s": summary.wall_s,
            "fps": summary.fps, "started": t0,
            "stages": {k: {"ms_per_frame": v["ms_per_frame"], "busy_fraction": v["busy_fraction"]}
                       for k, v in summary.stages.items()}}


def measure_live_capacity(path, detector, counts, seconds=10.0, output="jsonl", max_p99_ms=100.0, warmup_s=1.0,
                          keep_going=False, config=None, track=False, tiles=None):
    # type: (str, object, list, float, str, float, float, bool, RunConfig, bool, object) -> dict
    """Ramp the camera counts `counts` (ascending); returns {"steps": [...], "capacity": N or 0, ...}.

    `output`: "jsonl", "video" or "none" (what each camera's frames are written to, in a temporary folder).
    `warmup_s`: one camera run first, untimed, so the engine's first batches are not counted. `keep_going`: run
    every count even after one is not served. `config`: the pipeline's settings (None: the CPU defaults). `track`:
    the tracker runs on every camera; `tiles`: a TilePlan for tiled inference (None: frames whole).
    """
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError("seconds per step must be a finite number above 0, got %r" % (seconds,))
    outputs = {"video": ("video",), "jsonl": ("jsonl",), "none": ()}[output]
    kw = config if config is not None else RunConfig.defaults()
    tmp = tempfile.mkdtemp(prefix="trafficpipe-live-")
    steps = []
    capacity = 0
    try:
        if warmup_s > 0:
            run_count(path, detector, 1, warmup_s, outputs, tmp, kw, track, tiles)
        for n in sorted(set(int(c) for c in counts)):
            step = run_count(path, detector, n, seconds, outputs, tmp, kw, track, tiles)
            step["served"] = (step["dropped"] == 0 and step["frames_out"] == step["expected_frames"]
                              and step["latency_ms"]["p99"] <= max_p99_ms)
            steps.append(step)
            logger.info("live: {} camera(s): {} of {} frames, {} dropped, p99 {:.1f} ms -> {}", n,
                        step["frames_out"], step["expected_frames"], step["dropped"], step["latency_ms"]["p99"],
                        "served" if step["served"] else "not served")
            if step["served"]:
                capacity = max(capacity, n)
            elif not keep_going:
                break
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"schema": SCHEMA, "source": os.path.abspath(path), "seconds": seconds, "output": output,
            "max_p99_ms": max_p99_ms, "capacity": capacity, "steps": steps, "track": bool(track),
            "tiles": tiles.describe() if tiles is not None else None,
            "pipeline": dict((k, v) for k, v in kw.knobs().items() if isinstance(v, (int, float, str, bool)))}


def format_live_capacity(report):
    # type: (dict) -> str
    """A table of the ramp and the capacity line."""
    lines = ["live capacity: %s replayed at its native rate, %s s per step, output %s%s; served = no frame dropped "
             "and p99 capture->output <= %s ms" % (os.path.basename(report["source"]), _number(report["seconds"]),
                                                   report["output"], ", tracked" if report.get("track") else "",
                                                   _number(report["max_p99_ms"])),
             "%8s %10s %10s %8s %9s %9s %9s %9s  %s" % ("cameras", "frames", "written", "dropped", "p50 ms",
                                                       "p99 ms", "worst p99", "fps", "served")]
    for s in report["steps"]:
        lat = s["latency_ms"]
        lines.append("%8d %10d %10d %8d %9.1f %9.1f %9.1f %9.1f  %s" % (
            s["streams"], s["expected_frames"], s["frames_out"], s["dropped"], lat["p50"], lat["p99"],
            s["worst_stream_p99_ms"], s["fps"], "yes" if s["served"] else "no"))
    lines.append("capacity: %d camera(s)" % report["capacity"])
    return "\n".join(lines) + "\n"


def _number(x):
    # type: (float) -> str
    """A setting as given: 10, 0.5, 2.25 (no rounding of 0.5 s to 0, no 10.000)."""
    return "%g" % x


__all__ = ["measure_live_capacity", "format_live_capacity", "run_count"]
