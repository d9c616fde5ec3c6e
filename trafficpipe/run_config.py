"""One run's settings, fixed before it starts: the engine actually used (with the reason it was chosen) and the
pipeline's knobs, each left unset filled with the best measured setting for this machine and these sources.

detect and bench build it the same way (`resolve`), so a bench figure is what `trafficpipe detect` gives with no flags.
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
    "in_flight": (None, None),        # the engine's own (pipeline.default_depth)
    "queue_size": (8, 8),
    "live_queue_size": (2, 2),
}
KNOBS = tuple(sorted(DEFAULTS))
MANY_CORES = 12


class RunConfig(namedtuple("RunConfig", ("engine", "engine_reason", "precision", "max_frames") + KNOBS)):
    """A run's engine and pipeline settings (immutable). `pipeline_kwargs()` gives the Pipeline's keyword arguments."""

    def pipeline_kwargs(self):
        # type: () -> dict
        return dict(batch=self.batch, batch_timeout=self.batch_timeout, contexts=self.contexts,
                    preprocess_workers=self.preprocess_workers, postprocess_workers=self.postprocess_workers,
                    decode_workers=self.decode_workers, decode_processes=self.decode_processes, depth=self.in_flight,
                    queue_size=self.queue_size, live_queue_size=self.live_queue_size, max_frames=self.max_frames)

    def tuned(self):
        # type: () -> dict
        """The knobs whose value differs from ONNX Runtime's CPU defaults (for the start-up log line)."""
        return dict((k, getattr(self, k)) for k in KNOBS if getattr(self, k) != DEFAULTS[k][0])


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
