"""One run of the threaded pipeline as the bench measures it (its result, per-frame log and phases), and the
detector warm-up before it; shared by the bench's own process and its one-process-per-source children."""
import collections
import time

from ..engines.device_frames import is_device_image, to_host_bgr
from ..pipeline import Pipeline
from ..pipeline.metrics import percentiles
from .report import STAGES, stage_rows


class FrameLog(object):
    """The Pipeline's `on_frame` hook: capture->write latency per source and every frame's stage timeline."""

    def __init__(self):
        self.latency_ms = collections.defaultdict(list)
        self.timelines = []  # (source_id, seq, t_capture, {stage: (start, end)})

    def __call__(self, frame):
        w = frame.t.get("write")
        if w is not None:
            self.latency_ms[frame.source_id].append((w[1] - frame.t_capture) * 1000.0)
        self.timelines.append((frame.source_id, frame.seq, frame.t_capture, dict(frame.t)))

    def sample(self, count=24, source_id=0):
        # type: (int, int) -> list
        """`count` consecutive frames of one source from the middle of the run, times in ms from the first's capture."""
        mine = sorted((t for t in self.timelines if t[0] == source_id), key=lambda t: t[1])
        if not mine or count <= 0:
            return []
        start = max(0, len(mine) // 2 - count // 2)
        chosen = mine[start:start + count]
        origin = min(min(v[0] for v in t[3].values()) if t[3] else t[2] for t in chosen)
        out = []
        for sid, seq, _, spans in chosen:
            stages = collections.OrderedDict()
            for name in STAGES:
                if name in spans:
                    a, b = spans[name]
                    stages[name] = [round((a - origin) * 1000.0, 3), round((b - origin) * 1000.0, 3)]
            out.append({"source": sid, "frame": seq, "stages": stages})
        return out


def run_pipeline(uris, detector, cfg, out_dir, on_start=None):
    # type: (list, object, object, str, object) -> tuple
    """The threaded pipeline over `uris` as `cfg` (a BenchConfig) sets it: (result dict, FrameLog, Pipeline).
    `on_start`: see Pipeline.

    Its CPU time counts over the run proper, as its wall time does: building the engine contexts (CUDA graph capture
    on the torch engine) before it and releasing them after it stay out of `cpu_ms_per_frame`."""
    log = FrameLog()
    c0 = []

    def started():
        if on_start is not None:
            on_start()
        c0.append(time.process_time())

    pipe = Pipeline(list(uris), detector, cfg.run, out_dir=out_dir if cfg.outputs else None, outputs=cfg.outputs,
                    on_frame=log, on_start=started, steps=_track_steps(cfg), tiles=cfg.tiles)
    summary = pipe.run()
    cpu = pipe.cpu_at_end - c0[0]
    n = summary["frames_out"]
    sources = []
    for i, s in enumerate(summary["sources"]):
        sources.append({"name": s["name"], "frames": s["frames_out"], "fps": s["fps"],
                        "latency_ms": s.get("latency_ms") or percentiles(log.latency_ms.get(i, []))})
    result = {"sources_n": len(uris), "frames": n, "frames_in": summary["frames_in"], "dropped": summary["dropped"],
              "wall_s": summary["wall_s"], "teardown_s": summary["teardown_s"], "fps": summary["fps"], "cpu_s": cpu,
              "cpu_ms_per_frame": cpu * 1000.0 / n if n else 0.0, "latency_ms": summary["latency_ms"],
              "stages": stage_rows(summary), "queues": summary["queues"], "sources": sources,
              "batch": summary["batch"], "contexts": summary["contexts"], "in_flight": pipe.layout.depth,
              "decoders": summary["decoders"], "phases_ms": phases(log, pipe.t0, summary["decoders"])}
    return result, log, pipe


def _track_steps(cfg):
    if not cfg.track:
        return None
    from ..tracking.steps import tracking_steps
    return tracking_steps(None)


def phases(log, t0, decoders):
    # type: (FrameLog, float, list) -> dict
    """When, in ms from the run's start, the first and last frames were captured and written, and when each decoder
    process started and ended: where the run's wall time goes besides the steady state."""
    caps = [t[2] for t in log.timelines]
    writes = [t[3]["write"][1] for t in log.timelines if "write" in t[3]]
    out = {}
    if caps:
        out.update(first_capture=(min(caps) - t0) * 1e3, last_capture=(max(caps) - t0) * 1e3)
    if writes:
        out.update(first_write=(min(writes) - t0) * 1e3, last_write=(max(writes) - t0) * 1e3)
    for d in decoders:
        if "t_start" in d:
            out["decoder_%d_%d" % (d["source_id"], d["process"])] = [(d["t_start"] - t0) * 1e3, (d["t_end"] - t0) * 1e3]
    return out


def warm_up(uri, detector, n):
    """Run the detector `n` times on the source's first frame (engine start-up costs stay out of the figures)."""
    if n <= 0:
        return
    from ..sources.factory import open_source
    src = open_source(uri)
    try:
        got = src.read()
    finally:
        src.close()
    if got is None:
        return
    image = got[0]
    if is_device_image(image):  # a GPU-decoded frame: the detector's synchronous path takes host BGR images
        image = to_host_bgr(image)
    for _ in range(n):
        detector.detect(image)
