"""`trafficpipe detect SRC [SRC ...] --out DIR`: run the pipeline and write annotated outputs."""
import os
import sys

from ..errors import SourceError, TrafficpipeError, TruncatedInput
from ..log import logger
from ..sinks.files import SINK_KINDS


def add_parser(sub):
    from ..cli import add_decoding_options, add_model_options, add_tile_options
    p = sub.add_parser("detect", help="detect traffic objects in videos, images, cameras and streams",
                       description="Detect traffic objects. SRC: video file, image file, folder or glob of images, "
                                   "camera index, /dev/videoN, rtsp:// or http:// URL, GStreamer pipeline, csi://N. "
                                   "Each source gets its own capture thread and outputs DIR/<name>.mp4, .jsonl.",
                       epilog="Live sources (cameras, streams) reconnect with exponential backoff (--retries, "
                              "--retry-delay) and run until Ctrl-C or --max-frames; with several sources, a live "
                              "source that fails after its retries is logged and the others go on. Exit status: 0 when "
                              "every source ended normally; 2 on bad input or when any source failed (its frames "
                              "before the failure and the other sources' outputs are still written); 3 when a file "
                              "was truncated; 130 on Ctrl-C.")
    p.add_argument("sources", nargs="+", metavar="SRC")
    p.add_argument("--out", default="out", help="output folder (default: out)")
    p.add_argument("--save", default=None,
                   help="comma-separated outputs from %s (default: video,jsonl for videos and streams, images,jsonl "
                        "for image sets)" % ",".join(SINK_KINDS))
    add_model_options(p)
    add_tile_options(p)
    g = p.add_argument_group("pipeline")
    g.add_argument("--batch", type=int, default=1, help="frames per inference call (default 1)")
    g.add_argument("--batch-timeout", type=float, default=0.0,
                   help="seconds to wait for a batch to fill when no frame is queued (default 0)")
    g.add_argument("--contexts", type=int, default=1, help="execution contexts; sources are spread over them "
                   "(default 1; use one per camera on GPU)")
    g.add_argument("--preprocess-workers", type=int, default=2, help="preprocess threads (default 2)")
    g.add_argument("--postprocess-workers", type=int, default=1, help="postprocess threads (default 1)")
    g.add_argument("--decode-workers", type=int, default=1,
                   help="decoders per MP4/MOV file, each on whole keyframe-aligned chunks, for when one decoder is the "
                        "limit (default 1; holds up to N chunks of frames in memory for reordering)")
    add_decoding_options(g)
    g.add_argument("--processes", type=int, default=1,
                   help="spread the sources over N processes, each with its own detector and pipeline (one Python "
                        "GIL each: for several sources on a many-core GPU host; each process logs its own "
                        "summary, one progress bar counts them all; default 1)")
    g.add_argument("--mps", action="store_true",
                   help="run under CUDA MPS (NVIDIA's multi-process service), so the GPU work of --processes runs side "
                        "by side instead of time-slicing one process's CUDA context against another's: uses a running "
                        "MPS daemon, else starts a private one for the run and stops it after (GPU engines only)")
    g.add_argument("--queue-size", type=int, default=8, help="per-source queue capacity for files (default 8)")
    g.add_argument("--live-queue-size", type=int, default=2,
                   help="per-source queue capacity for live sources, oldest dropped first (default 2)")
    g.add_argument("--video-encoder", choices=("auto", "nvenc", "opencv"), default="auto",
                   help="annotated video writer: auto (NVENC through PyNvVideoCodec where the GPU has it, else "
                        "OpenCV), nvenc or opencv (default auto)")  # expert
    g.add_argument("--max-frames", type=int, default=None, help="stop each source after N frames")
    g.add_argument("--retries", type=int, default=5, help="reconnect attempts of a live source per outage; the count "
                   "restarts once frames flow again (default 5)")
    g.add_argument("--retry-delay", type=float, default=0.5, help="first reconnect delay in seconds, doubled each "
                   "attempt up to 8 s (default 0.5)")
    g.add_argument("--backend", default="auto", choices=("auto", "opencv", "jetson"),
                   help="capture backend (default auto: jetson_utils for csi:// where available, else OpenCV)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args):
    """`trafficpipe detect`: with --mps inside a CUDA MPS daemon (started here unless one runs), else as it is."""
    if not getattr(args, "mps", False) or getattr(args, "child_process", False):
        return _run(args)
    from ..engines.mps import mps_daemon
    with mps_daemon(engine=args.engine):
        return _run(args)


def _run(args):
    from ..cli import check_decode_processes, make_pipeline_detector, tile_plan
    from ..pipeline import Pipeline
    from ..sources.factory import open_source
    from ..sources.video import set_decode_threads, set_decoder

    kinds = [k.strip() for k in args.save.split(",")] if args.save else None
    if kinds:
        bad = [k for k in kinds if k not in SINK_KINDS]
        if bad:
            raise SourceError("unknown output %s; choose from %s" % (", ".join(bad), ", ".join(SINK_KINDS)))
    tiles = tile_plan(args)
    if args.in_flight is not None and args.in_flight < 1:
        raise TrafficpipeError("--in-flight must be at least 1")
    if args.processes < 1:
        raise TrafficpipeError("--processes must be at least 1")
    check_decode_processes(args)
    if args.processes > 1 and len(args.sources) > 1:
        from .detect_processes import run_in_processes
        return run_in_processes(args)
    set_decode_threads(args.decode_threads)
    set_decoder(args.decoder)
    from ..sinks.nvenc import set_video_encoder
    set_video_encoder(args.video_encoder)
    names = getattr(args, "source_names", None) or [None] * len(args.sources)
    sources = []
    try:
        for uri, name in zip(args.sources, names):
            # with several sources, live ones connect in their capture threads: a dead camera delays nothing else
            sources.append(open_source(uri, backend=args.backend, retries=args.retries, retry_delay=args.retry_delay,
                                       connect_live=len(args.sources) == 1, name=name))
        detector = make_pipeline_detector(args)
    except BaseException:
        for s in sources:
            s.close()
        raise
    outputs = kinds or ["video", "images", "jsonl"]
    total = sum(s.frame_count or 0 for s in sources) if not any(s.live for s in sources) else None
    if args.max_frames and total:
        total = sum(min(s.frame_count or args.max_frames, args.max_frames) for s in sources)
    bar = progress_bar(total, args.no_progress)
    shared = getattr(args, "progress", None)  # (frames written, frames expected) read by a --processes parent
    if shared is not None:
        shared[1].value = total or -1
    pipe = Pipeline(sources, detector, out_dir=args.out, outputs=outputs, batch=args.batch,
                    batch_timeout=args.batch_timeout, contexts=args.contexts,
                    preprocess_workers=args.preprocess_workers, postprocess_workers=args.postprocess_workers,
                    decode_workers=args.decode_workers, decode_processes=args.decode_processes,
                    depth=args.in_flight, tiles=tiles,
                    queue_size=args.queue_size, live_queue_size=args.live_queue_size, max_frames=args.max_frames,
                    on_frame=_frame_counter(bar, shared))
    try:
        summary = pipe.run()
    except KeyboardInterrupt:  # the usual end of a live run: the outputs are closed, report what was done
        if pipe.summary is not None:
            _report(pipe.summary)
        raise
    finally:
        if bar is not None:
            bar.close()
        detector.close()
    _report(summary)
    problems = [s for s in summary.sources if s["error"]]
    if problems:
        for s in problems[1:]:
            logger.error("{}: {}", s["name"], s["error"])
        first = problems[0]
        if first["truncated"]:
            raise TruncatedInput("%s: %s (every readable frame was written)" % (first["name"], first["error"]))
        if len(problems) == len(summary.sources) > 1:
            raise SourceError("all %d sources failed: %s" % (len(problems), first["error"]))
        if len(summary.sources) > 1:
            raise SourceError("%d of %d sources failed (the others were written): %s"
                              % (len(problems), len(summary.sources), first["error"]))
        raise SourceError("%s" % first["error"])
    return 0


def _frame_counter(bar, shared):
    """The pipeline's per-frame hook: advance the progress bar and/or the shared frame count (None when neither)."""
    if bar is None and shared is None:
        return None
    written = shared[0] if shared is not None else None

    def on_frame(frame):
        if bar is not None:
            bar.update(1)
        if written is not None:
            written.value += 1  # this process's writer thread alone adds to it
    return on_frame


def progress_bar(total, disabled):
    """A tqdm bar of frames on stderr (None when disabled, or when stderr is no terminal unless TRAFFICPIPE_PROGRESS=1)."""
    if disabled or not sys.stderr.isatty() and os.environ.get("TRAFFICPIPE_PROGRESS") != "1":
        return None
    from tqdm import tqdm
    return tqdm(total=total or None, unit="frame", dynamic_ncols=True, mininterval=0.5)


def _report(summary):
    for s in summary.sources:
        logger.info("{}: {} frames in, {} written, {} dropped, {} reconnects, {:.1f} fps, latency p50 {:.0f} ms "
                    "p99 {:.0f} ms [{}]", s["name"], s["frames_in"], s["frames_out"], s["dropped"], s["reconnects"],
                    s["fps"], s["latency_ms"]["p50"], s["latency_ms"]["p99"], s["state"])
    logger.info("{} frames in {:.2f}s = {:.1f} fps; outputs in {}", summary.frames_out, summary.wall_s, summary.fps,
                summary.out_dir)
