"""One bench run: stage ceilings, the seed loop, the threaded pipeline (and N sources at once), repeated R times."""
import os
import shutil
import tempfile
import time

from ..log import logger
from ..redact import redact
from ..sources.base import source_name
from .ceilings import decode_in_processes, measure_ceilings
from .decode_together import decode_together
from ..cpu import cores_available
from .machine import describe_machine, load_avg
from .pipeline_run import run_pipeline, warm_up
from .processes import run_stream_processes
from .report import stage_workers, stream_workers, aggregate_runs, bound, check_targets, ratios, targets_for
from .seed import run_seed_loop

OUTPUTS = {"video": ("video",), "jsonl": ("jsonl",), "none": ()}
SCHEMA = "trafficpipe-bench/1"


class BenchConfig(object):
    """What to measure: the source, the run's settings (`run`, a RunConfig: the pipeline's knobs, as detect resolves
    them; None: the CPU defaults) and what only the bench has: frames per run, repeats, output, the multi-source
    counts, warm-up, where outputs go, the timeline's length, one process per source (`stream_processes`, building
    their detector from `detector_kwargs`), the tracker (`track`: its time is the "track" stage row) and tiles."""

    def __init__(self, source, run=None, frames=300, repeat=3, output="video", streams=(), warmup=10, out_dir=None,
                 timeline_frames=24, stream_processes=False, detector_kwargs=None, track=False, tiles=None):
        from ..run_config import RunConfig
        self.source = source
        self.frames = int(frames) if frames else None
        self.run = (run if run is not None else RunConfig.defaults()).replace(max_frames=self.frames)
        self.repeat = max(1, int(repeat))
        self.output = output
        self.streams = [int(n) for n in streams]
        self.warmup = max(0, int(warmup))
        self.out_dir = out_dir
        self.timeline_frames = int(timeline_frames)
        self.stream_processes = bool(stream_processes)  # multi-source mode: one process per source
        self.detector_kwargs = detector_kwargs  # how those processes build their detector
        self.track = bool(track)
        self.tiles = tiles  # a TilePlan (models/tiling.py) for the pipeline, or None

    @property
    def outputs(self):
        # type: () -> tuple
        return OUTPUTS[self.output]

    def to_dict(self):
        # type: () -> dict
        """The report's "config": the bench's own fields and every knob of the run."""
        d = dict((k, v) for k, v in self.__dict__.items() if k not in ("run", "detector_kwargs"))
        d.update(self.run.knobs())
        d["source"] = os.path.abspath(self.source) if os.path.exists(self.source) else redact(self.source)
        d["source_name"] = source_name(self.source)
        d["tiles"] = self.tiles.describe() if self.tiles is not None else None
        return d


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
    ceilings, raw["ceilings"] = measure_ceilings(uri, detector, cfg.frames, cfg.run.batch, cfg.outputs,
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
    if cfg.run.decode_processes:  # decode-only of the pipeline's own reader (the ratio above is against one decoder)
        logger.info("repeat {}: decode-only in {} process(es)", index + 1, cfg.run.decode_processes)
        dp = ceilings["capture_processes"] = decode_in_processes(uri, cfg.run.decode_processes, cfg.frames,
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
                warm_up(cfg.source, det, cfg.warmup)
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
