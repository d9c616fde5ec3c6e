"""One run's settings, fixed before it starts: the engine actually used (with the reason it was chosen) and the
pipeline's knobs, each left unset filled with the best measured setting for this machine and these sources; and the
run's layout (slots, queue depths, worker counts) derived from them in one place.

detect and bench build it the same way (`resolve`), so a bench figure is what `trafficpipe detect` gives with no flags;
the Pipeline takes it (`RunConfig.defaults()` for the API), as do detect's `--processes` children, bench's
one-process-per-source runs (inside a BenchConfig) and eval.
"""
import os
from collections import namedtuple

from .cpu import cores_available
from .engines.factory import GPU_ENGINES, choose_engine, default_precision
from .log import logger

#: knob -> default on ONNX Runtime (CPU), default on a GPU engine; None = chosen below from the machine and sources
DEFAULTS = {
    "batch": (1, 4),                  # GPU: 4 frames a call (docs/benchmarks.md); CPU: batch 1 is as fast, less latency
    "batch_timeout": (0.0, 0.0),
    "contexts": (1, 1),
    "preprocess_workers": (2, 1),     # GPU: one preprocess thread (the infer thread needs the GIL more)
    "postprocess_workers": (1, 1),
    "decode_workers": (1, 1),
    "decode_processes": (0, None),    # GPU: 3 child decoders for video files on hosts of 12+ cores
    "decode_threads": (0, None),      # GPU: 8 FFmpeg threads per child decoder with decode_processes
    "decoder": ("opencv", "opencv"),
    "in_flight": (None, None),        # the engine's own (default_depth)
    "queue_size": (8, 8),
    "live_queue_size": (2, 2),
    "writers": (1, 1),
}
KNOBS = tuple(sorted(DEFAULTS))
MANY_CORES = 12


class RunConfig(namedtuple("RunConfig", ("engine", "engine_reason", "precision", "max_frames") + KNOBS)):
    """A run's engine and pipeline settings (immutable): `max_frames` per source (None: all) and every knob of KNOBS.
    `engine`, `engine_reason` and `precision` are None where the detector was built apart (`defaults`)."""

    @classmethod
    def defaults(cls, **values):
        # type: (**object) -> RunConfig
        """ONNX Runtime's CPU defaults, with `values` (knobs or max_frames) set over them: for the API and tests."""
        fields = dict((k, DEFAULTS[k][0]) for k in KNOBS)
        fields.update(engine=None, engine_reason=None, precision=None, max_frames=None)
        fields.update(values)
        return cls(**fields)

    def replace(self, **values):
        # type: (**object) -> RunConfig
        """A copy with `values` changed."""
        return self._replace(**values)

    def knobs(self):
        # type: () -> dict
        """knob -> value, for reports."""
        return dict((k, getattr(self, k)) for k in KNOBS)

    def layout(self, engine, n_sources, min_batch=1):
        # type: (object, int, int) -> Layout
        """What a run of these settings is built of, for `n_sources` sources on `engine`; `min_batch`: the items one
        frame may take (tiled inference: the whole frame and its tiles go in one slot)."""
        contexts = max(1, min(int(self.contexts), n_sources))
        depth = int(self.in_flight) if self.in_flight else default_depth(engine)
        slots = self.preprocess_workers + self.postprocess_workers + depth + 2  # enough to keep every worker busy
        return Layout(batch=max(1, int(self.batch), int(min_batch)), contexts=contexts, slots=slots, depth=depth,
                      preprocess_workers=self.preprocess_workers, postprocess_workers=self.postprocess_workers,
                      writers=max(1, min(int(self.writers), n_sources)),
                      decode_workers=max(1, int(self.decode_workers)),
                      decode_processes=max(0, int(self.decode_processes or 0)), queue_size=self.queue_size,
                      live_queue_size=self.live_queue_size, batch_timeout=self.batch_timeout,
                      infer_queue=max(2, slots), collect_queue=max(2, slots) * contexts,
                      write_queue=self.queue_size * 4)

    def tuned(self):
        # type: () -> dict
        """The knobs whose value differs from ONNX Runtime's CPU defaults (for the start-up log line)."""
        return dict((k, getattr(self, k)) for k in KNOBS if getattr(self, k) != DEFAULTS[k][0])


class Layout(namedtuple("Layout", ("batch", "contexts", "slots", "depth", "preprocess_workers", "postprocess_workers",
                                   "writers", "decode_workers", "decode_processes", "queue_size", "live_queue_size",
                                   "batch_timeout", "infer_queue", "collect_queue", "write_queue"))):
    """A run's shape derived from its RunConfig (`RunConfig.layout`): `batch` items per inference call, `contexts`
    (at most one per source), `slots` per context, `depth` batches in flight per context, worker counts, the capture
    queue's capacity per file (`queue_size`) and live source (`live_queue_size`), and the capacities of the queues
    preprocess -> infer (`infer_queue`, per context), infer -> postprocess (`collect_queue`) and postprocess -> write
    (`write_queue`, per writer)."""

    @property
    def engine_frames(self):
        # type: () -> int
        """Frames the engine's slots hold at once."""
        return self.slots * self.batch * self.contexts


def default_depth(engine):
    # type: (object) -> int
    """Slots the inference stage keeps submitted per context: one more than the engine computes at once (ONNX
    Runtime's `concurrency` runs), so the next run starts the moment one ends instead of after the inference thread
    collects the oldest; at least 2 (GPU engines: the next batch is queued on the device while one computes). On 2 CPU
    cores, 3 instead of 2 raised the pipeline from 0.85 to 0.91 of the bound (YOLOX-nano)."""
    return max(2, int(getattr(engine, "concurrency", 1) or 1) + 1)


def local_video_files(uris):
    # type: (list) -> bool
    """True when every source is a local video file (not a camera, stream, pipeline or image set)."""
    from .sources.images import is_image_path
    for uri in uris or ():
        path = str(uri)[len("file://"):] if str(uri).startswith("file://") else str(uri)
        if not os.path.isfile(path) or is_image_path(path):
            return False
    return bool(uris)


def machine_default(knob, engine, sources, cores):
    """The default of `knob` for `engine` on a machine of `cores` cores reading `sources`."""
    cpu, gpu = DEFAULTS[knob]
    if engine not in GPU_ENGINES:
        return cpu
    if knob in ("decode_processes", "decode_threads"):
        if cores >= MANY_CORES and local_video_files(sources):
            return 3 if knob == "decode_processes" else 8
        return 0
    return gpu


def resolve(args, sources=None):
    # type: (object, list) -> RunConfig
    """Fix the run's settings from parsed options: `--engine auto` becomes the engine chosen, unset knobs (None) the
    machine's defaults. `args` is updated in place (the rest of the command reads it) and the RunConfig returned."""
    engine, reason = choose_engine(getattr(args, "engine", "auto") or "auto")
    args.engine = engine
    if getattr(args, "precision", None) is None:
        args.precision = default_precision(engine)
    cores = cores_available()
    if getattr(args, "decoder", None) not in (None, "opencv"):  # NVDEC: no child decoders
        for knob in ("decode_processes", "decode_threads"):
            if getattr(args, knob, None) is None:
                setattr(args, knob, 0)
    for knob in KNOBS:
        if getattr(args, knob, None) is None and knob != "in_flight":
            setattr(args, knob, machine_default(knob, engine, sources, cores))
    values = dict((k, getattr(args, k, None)) for k in KNOBS)
    config = RunConfig(engine=engine, engine_reason=reason, precision=args.precision,
                       max_frames=getattr(args, "max_frames", None), **values)
    return config


def announce(config):
    # type: (RunConfig) -> None
    """Log, once at start, the engine chosen and why, and every knob set away from the CPU defaults."""
    tuned = config.tuned()
    logger.info("engine: {} {} ({}){}", config.engine, config.precision, config.engine_reason,
                "; " + ", ".join("%s=%s" % kv for kv in sorted(tuned.items())) if tuned else "")
