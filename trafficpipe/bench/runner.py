"""One bench run: stage ceilings, the seed loop, the threaded pipeline (and N sources at once), repeated R times."""
import collections
import os
import shutil
import tempfile
import time

from ..engines.device_frames import is_device_image, to_host_bgr
from ..log import logger
from ..pipeline import Pipeline
from ..pipeline.metrics import percentiles
from ..sources.base import source_name
from .ceilings import decode_in_processes, measure_ceilings
from .decode_together import decode_together
from ..cpu import cores_available
from .machine import describe_machine, load_avg
from .processes import run_stream_processes
from .report import STAGES, stage_workers, stream_workers, aggregate_runs, bound, check_targets, ratios, stage_rows, targets_for
from .seed import run_seed_loop

OUTPUTS = {"video": ("video",), "jsonl": ("jsonl",), "none": ()}
SCHEMA = "trafficpipe-bench/1"


class BenchConfig(object):
    """What to measure: source, frame limit, repeats, pipeline options and the multi-source counts."""

    def __init__(self, source, frames=300, repeat=3, batch=1, contexts=1, preprocess_workers=2, postprocess_workers=1,
                 writers=1, queue_size=8, output="video", streams=(), warmup=10, out_dir=None, timeline_frames=24,
                 decode_workers=1, stream_processes=False, detector_kwargs=None, in_flight=None, decode_processes=0,
                 tiles=None):
        self.source = source
        self.tiles = tiles  # a TilePlan (models/tiling.py) for the pipeline, or None
        self.decode_processes = max(0, int(decode_processes or 0))
        self.in_flight = max(1, int(in_flight)) if in_flight else None  # None: the pipeline's default_depth
        self.frames = int(frames) if frames else None
        self.repeat = max(1, int(repeat))
        self.batch = max(1, int(batch))
        self.contexts = max(1, int(contexts))
        self.preprocess_workers = max(1, int(preprocess_workers))
        self.postprocess_workers = max(1, int(postprocess_workers))
        self.writers = max(1, int(writers))
        self.decode_workers = max(1, int(decode_workers))
        self.queue_size = max(1, int(queue_size))
        self.output = output
        self.streams = [int(n) for n in streams]
        self.warmup = max(0, int(warmup))
        self.out_dir = out_dir
        self.timeline_frames = int(timeline_frames)
        self.stream_processes = bool(stream_processes)  # multi-source mode: one process per source
        self.detector_kwargs = detector_kwargs  # how those processes build their detector

    @property
    def outputs(self):
        # type: () -> tuple
        return OUTPUTS[self.output]

    def to_dict(self):
        # type: () -> dict
        d = dict(self.__dict__)
        d["source"] = os.path.abspath(self.source) if os.path.exists(self.source) else self.source
        d["source_name"] = source_name(self.source)
        d["tiles"] = self.tiles.describe() if self.tiles is not None else None
        d.pop("detector_kwargs", None)
        return d


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
    # type: (list, object, BenchConfig, str, object) -> tuple
    """The threaded pipeline over `uris`: (result dict, FrameLog, Pipeline). `on_start`: see Pipeline.

    Its CPU time counts over the run proper, as its wall time does: building the engine contexts (CUDA graph capture
    on the torch engine) before it and releasing them after it stay out of `cpu_ms_per_frame`."""
    log = FrameLog()
    c0 = []

    def started():
        if on_start is not None:
            on_start()
        c0.append(time.process_time())

    pipe = Pipeline(list(uris), detector, out_dir=out_dir if cfg.outputs else None, outputs=cfg.outputs,
                    batch=cfg.batch, contexts=cfg.contexts, preprocess_workers=cfg.preprocess_workers,
                    postprocess_workers=cfg.postprocess_workers, writers=cfg.writers, queue_size=cfg.queue_size,
                    max_frames=cfg.frames, on_frame=log, decode_workers=cfg.decode_workers, on_start=started,
                    decode_processes=cfg.decode_processes,
                    depth=cfg.in_flight, tiles=cfg.tiles)
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
              "batch": summary["batch"], "contexts": summary["contexts"], "in_flight": pipe.depth,
              "decoders": summary["decoders"], "phases_ms": phases(log, pipe.t0, summary["decoders"])}
    return result, log, pipe


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


def run_once(uri, detector, cfg, out_dir, index=0, seed_detector=None):
    # type: (str, object, BenchConfig, str, int, object) -> tuple
    """One repeat: ceilings, seed loop and pipeline (their order alternates between repeats), then the streams.

    The seed loop runs on `seed_detector` where given (the same model with the engine's own defaults), else on
    `detector`.
    """
    run = {"load_avg": load_avg()}
    cores = cores_available()
    raw = {}
    logger.info("repeat {}: stage ceilings", index + 1)
    ceilings, raw["ceilings"] = measure_ceilings(uri, detector, cfg.frames, cfg.batch, cfg.outputs,
                                                 os.path.join(out_dir, "ceilings"))
    run["ceilings"] = ceilings

    def seed():
        logger.info("repeat {}: seed loop", index + 1)
        run["seed"], raw["seed"] = run_seed_loop(uri, seed_detector or detector, cfg.outputs,
                                                 os.path.join(out_dir, "seed"), cfg.frames)

    def pipeline():
        logger.info("repeat {}: pipeline", index + 1)
        run["pipeline"], log, pipe = run_pipeline([uri], detector, cfg, os.path.join(out_dir, "pipeline"))
        raw["pipeline"] = dict((st.name, [d * 1000.0 for d in st.stats.latencies]) for st in pipe.stages)
        raw["timeline"] = log.sample(cfg.timeline_frames)

    for step in ((seed, pipeline) if index % 2 == 0 else (pipeline, seed)):
        step()
    run["frames"] = run["pipeline"]["frames"]
    run["bound"] = bound(ceilings, stage_workers(run["pipeline"]), cores)
    run["ratios"] = ratios(run["pipeline"]["fps"], run["seed"]["fps"], run["bound"]["fps"],
                           ceilings["capture"]["fps"])
    if cfg.decode_processes:  # decode-only of the pipeline's own reader (the ratio above is against one decoder)
        logger.info("repeat {}: decode-only in {} process(es)", index + 1, cfg.decode_processes)
        dp = ceilings["capture_processes"] = decode_in_processes(uri, cfg.decode_processes, cfg.frames,
                                                                 detector.adapter, "video" in cfg.outputs)
        run["ratios"]["pipeline_over_decode_processes"] = (run["pipeline"]["fps"] / dp["fps"] if dp["fps"] else 0.0)
    streams = []
    base = run["pipeline"]["fps"]
    for n in cfg.streams:
        logger.info("repeat {}: {} source(s) at once", index + 1, n)
        if cfg.stream_processes:
            res = run_stream_processes(uri, n, cfg, cfg.detector_kwargs, os.path.join(out_dir, "streams-%d" % n))
        else:
            res, _, _ = run_pipeline([uri] * n, detector, cfg, os.path.join(out_dir, "streams-%d" % n))
        if n == 1:
            base = res["fps"]
        res["n"] = n
        res["fps_per_source"] = res["fps"] / n
        res["bound"] = bound(ceilings, stream_workers(res), cores)
        res["pipeline_over_bound"] = res["fps"] / res["bound"]["fps"] if res["bound"]["fps"] else 0.0
        # decoding's own limit for n sources: n decoders at once, laid out as the pipeline runs them
        res["decode_together"] = decode_together(uri, n, cfg.frames, cfg.stream_processes)
        dec = res["decode_together"]["fps"]
        res["pipeline_over_decode"] = res["fps"] / dec if dec else 0.0
        streams.append(res)
    for res in streams:
        res["scaling"] = res["fps"] / base if base else 0.0
    run["streams"] = streams
    run["load_avg_end"] = load_avg()
    return run, raw


def run_bench(cfg, detector, command=None, seed_detector=None):
    # type: (BenchConfig, object, str, object) -> tuple
    """Run `cfg.repeat` repeats with `detector` (the seed loop on `seed_detector` where given): (report dict ready
    for JSON, raw samples of the last repeat for plots)."""
    out_dir = cfg.out_dir or tempfile.mkdtemp(prefix="trafficpipe-bench-")
    engine_name = detector.engine.name
    started = load_avg()
    runs = []
    raw = {}
    try:
        for det in (detector, seed_detector):
            if det is not None:
                _warm_up(cfg.source, det, cfg.warmup)
        for r in range(cfg.repeat):
            run, raw = run_once(cfg.source, detector, cfg, out_dir, r, seed_detector)
            runs.append(run)
    finally:
        if not cfg.out_dir:
            shutil.rmtree(out_dir, ignore_errors=True)
    agg = aggregate_runs(runs)
    report = {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": command,
        "config": cfg.to_dict(),
        "machine": describe_machine(engine_name, detector.describe().get("gpu")),
        "detector": detector.describe(),
        "seed_detector": (seed_detector or detector).describe(),
        "load_avg": {"start": started, "end": load_avg()},
        "runs": runs,
        "median": agg["median"],
        "spread": agg["spread"],
        "targets": check_targets(agg["median"]["ratios"], targets_for(engine_name)),
        "timeline": raw.get("timeline", []),
    }
    return report, raw


def _warm_up(uri, detector, n):
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
