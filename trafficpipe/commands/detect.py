"""`trafficpipe detect SRC [SRC ...] --out DIR`: run the pipeline and write annotated outputs."""
import os

from ..errors import SourceError, TrafficpipeError, TruncatedInput
from ..log import logger
from ..sinks.display import DEFAULT_URI, LiveView, check_live_view, is_display_uri
from ..sinks.files import SINK_KINDS
from .progress import progress_bar


def add_parser(sub):
    from ..cli_values import batch_size, nonneg_float, nonneg_int, positive_float, positive_int
    from .options import add_decoding_options, add_model_options, add_tile_options, add_track_options
    p = sub.add_parser("detect", help="detect traffic objects in videos, images, cameras and streams",
                       description="Detect traffic objects. SRC: video file, image file, folder or glob of images, "
                                   "camera index, /dev/videoN, rtsp:// or http:// URL, GStreamer pipeline, csi://N. "
                                   "Each source gets its own capture thread and outputs DIR/<name>.mp4, .jsonl.",
                       epilog="Live sources (cameras, streams) reconnect with exponential backoff (--retries, "
                              "--retry-delay: see --help-all) and run until Ctrl-C or --max-frames; with several "
                              "sources, a live "
                              "source that fails after its retries is logged and the others go on. Exit status: 0 when "
                              "every source ended normally; 2 on bad input or when any source failed (its frames "
                              "before the failure and the other sources' outputs are still written); 3 when a file "
                              "was truncated; 130 on Ctrl-C, 143 on SIGTERM.")
    p.add_argument("sources", nargs="+", metavar="SRC")
    p.add_argument("--out", default="out", help="output folder (default: out)")
    p.add_argument("--save", default=None,
                   help="comma-separated outputs from %s (default: video,jsonl for videos and streams, images,jsonl "
                        "for image sets), and display://N for the live view" % ",".join(SINK_KINDS))
    p.add_argument("--show", action="store_true",
                   help="show the annotated frames live in a window (one mosaic for several sources) with the "
                        "measured fps; q, Esc or closing the window stops the run (same as --save ...,display://0)")
    add_model_options(p)
    add_tile_options(p)
    g = p.add_argument_group("tracking and counting")
    add_track_options(g, "track_id in the JSON lines, ids and trails drawn, DIR/<name>.mot.txt (MOTChallenge) and "
                         "DIR/<name>.tracks.json (one row per track)")
    g.add_argument("--count", action="append", default=[], metavar="SPEC",
                   help="count tracked objects (implies --track; repeatable): a line [NAME=]x1,y1,x2,y2 counts "
                        "crossings per class and direction, a zone zone:[NAME=]x1,y1,x2,y2,x3,y3[,...] reports "
                        "occupancy and dwell time; pixels; figures in the JSON lines, on the video and in "
                        "DIR/<name>.counts.json")
    g.add_argument("--track-fps", type=positive_float, default=None,  # expert
                   help="frame rate taken for image sets, which have no timestamps, with --track (default 30)")
    g = p.add_argument_group("pipeline")
    g.add_argument("--batch", type=batch_size, default=None, help="frames per inference call (default 4 on GPU "
                   "engines, 1 on ONNX Runtime)")
    g.add_argument("--batch-timeout", type=nonneg_float, default=0.0,
                   help="seconds to wait for a batch to fill when no frame is queued (default 0)")
    g.add_argument("--contexts", type=positive_int, default=1, help="execution contexts; sources are spread over them "
                   "(default 1; use one per camera on GPU)")
    g.add_argument("--preprocess-workers", type=positive_int, default=None,
                   help="preprocess threads (default 1 on GPU engines, 2 on ONNX Runtime)")
    g.add_argument("--postprocess-workers", type=positive_int, default=1, help="postprocess threads (default 1)")
    g.add_argument("--decode-workers", type=positive_int, default=1,
                   help="decoders per MP4/MOV file, each on whole keyframe-aligned chunks, for when one decoder is the "
                        "limit (default 1; holds up to N chunks of frames in memory for reordering)")
    add_decoding_options(g)
    g.add_argument("--processes", type=positive_int, default=1,
                   help="spread the sources over N processes, each with its own detector and pipeline (one Python "
                        "GIL each: for several sources on a many-core GPU host; each process logs its own "
                        "summary, one progress bar counts them all; default 1)")
    g.add_argument("--mps", action="store_true",
                   help="run under CUDA MPS (NVIDIA's multi-process service), so the GPU work of --processes runs side "
                        "by side instead of time-slicing one process's CUDA context against another's: uses a running "
                        "MPS daemon, else starts a private one for the run and stops it after (GPU engines only)")
    g.add_argument("--queue-size", type=positive_int, default=8, help="per-source queue capacity for files (default 8)")
    g.add_argument("--live-queue-size", type=positive_int, default=2,
                   help="per-source queue capacity for live sources, oldest dropped first (default 2)")
    g.add_argument("--video-encoder", choices=("auto", "nvenc", "opencv"), default="auto",
                   help="annotated video writer: auto (NVENC through PyNvVideoCodec where the GPU has it, else "
                        "OpenCV), nvenc or opencv (default auto)")  # expert
    g.add_argument("--max-frames", type=positive_int, default=None, help="stop each source after N frames")
    g.add_argument("--retries", type=nonneg_int, default=5, help="reconnect attempts of a live source per outage; the count "
                   "restarts once frames flow again (default 5)")
    g.add_argument("--retry-delay", type=nonneg_float, default=0.5, help="first reconnect delay in seconds, doubled each "
                   "attempt up to 8 s (default 0.5)")
    g.add_argument("--backend", default="auto", choices=("auto", "opencv", "jetson"),
                   help="capture backend (default auto: jetson_utils for csi:// where available, else OpenCV)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args):
    """`trafficpipe detect`: the output folder locked against a second run (the parent of --processes holds it for
    its children); with --mps inside a CUDA MPS daemon (started here unless one runs), else as it is."""
    from ..run_config import resolve
    if getattr(args, "config", None) is None:  # a --processes child gets its parent's settings, resolved
        args.config = resolve(args, args.sources)
    if getattr(args, "child_process", False):
        return _run(args)
    from ..sinks.lock import OutputLock
    with OutputLock(args.out):
        if not getattr(args, "mps", False):
            return _run(args)
        from ..engines.mps import mps_daemon
        with mps_daemon(engine=args.engine):
            return _run(args)


def _run(args):
    from .options import check_decode_processes, make_pipeline_detector, tile_plan, tracker_name
    from ..pipeline import Pipeline
    from ..sources.factory import open_source
    from ..sources.video import set_decode_threads, set_decoder

    kinds = [k.strip() for k in args.save.split(",")] if args.save else None
    show = _display_uri(args, kinds)
    if show:
        kinds = [k for k in kinds if not is_display_uri(k)] if kinds else None
        if args.processes > 1 and len(args.sources) > 1:
            raise TrafficpipeError("the live view shows the sources of one process: drop --processes or --show")
        show = check_live_view(show)  # no display here: one line now, before any model or source is opened
    if kinds:
        bad = [k for k in kinds if k not in SINK_KINDS]
        if bad:
            raise SourceError("unknown output %s; choose from %s" % (", ".join(bad), ", ".join(SINK_KINDS)))
    tracking = bool(args.track or args.count)
    outputs = kinds if kinds is not None else (["video", "images", "jsonl"] + (["mot", "tracks"] if tracking else []))
    tiles = tile_plan(args)
    if args.in_flight is not None and args.in_flight < 1:
        raise TrafficpipeError("--in-flight must be at least 1")
    if args.processes < 1:
        raise TrafficpipeError("--processes must be at least 1")
    check_decode_processes(args)
    from ..run_config import announce
    config = args.config  # the settings fixed in run(), as one immutable record
    from ..pipeline.inputs import check_local_sources, check_outputs_apart, named_sources, planned_sources
    from ..sinks.files import check_outputs_fit
    regions = None
    if args.count:
        from ..counting import parse_count_specs
        regions = parse_count_specs(args.count)
    if not tracking and kinds and set(kinds) & {"mot", "tracks"}:
        raise TrafficpipeError("--save mot and tracks need --track")
    tracker = tracker_name(args, tracking)
    if not tracking and args.track_fps is not None:
        raise TrafficpipeError("--track-fps %g needs --track" % args.track_fps)
    track_fps = args.track_fps or 30.0
    if args.processes > 1 and len(args.sources) > 1:  # checked here once, before any process starts
        check_local_sources(args.sources)
        planned = planned_sources(args.sources)
        check_outputs_apart(args.out, outputs, planned)  # across the processes' sources
        check_outputs_fit(kinds, planned)
        if regions:
            from ..counting.fit import check_planned
            check_planned(regions, planned)
        from .detect_processes import run_in_processes
        return run_in_processes(args)
    set_decode_threads(args.decode_threads)
    set_decoder(args.decoder)
    from ..sinks.nvenc import set_video_encoder
    set_video_encoder(args.video_encoder)
    names = getattr(args, "source_names", None) or [None] * len(args.sources)
    sources = []
    view = None
    try:
        for uri, name in zip(args.sources, names):
            # with several sources, live ones connect in their capture threads: a dead camera delays nothing else
            sources.append(open_source(uri, backend=args.backend, retries=args.retries, retry_delay=args.retry_delay,
                                       connect_live=len(args.sources) == 1, name=name))
        named = named_sources(sources)
        check_outputs_apart(args.out, outputs, named)  # before the model loads or anything is written
        check_outputs_fit(kinds, named)
        if regions:
            from ..counting.fit import check_sources
            check_sources(regions, sources)
        keep_conf = args.conf
        if tracking:  # ByteTrack continues tracks with low-score detections; the user's threshold still decides
            from ..tracking import TrackerConfig
            args.conf = min(args.conf, TrackerConfig().low)
        if not getattr(args, "child_process", False):
            announce(config)
        if show:
            view = LiveView(show, sources).start()
        detector = make_pipeline_detector(args)
    except BaseException:
        if view is not None:
            view.close(hold=False)
        for s in sources:
            s.close()
        raise
    steps = None
    if tracking:
        from ..tracking.steps import tracking_steps
        steps = tracking_steps(args.out, tracker, keep_conf=keep_conf, regions=regions, image_fps=track_fps)
    total = sum(s.frame_count or 0 for s in sources) if not any(s.live for s in sources) else None
    if args.max_frames and (total or total is None):  # live sources too: --max-frames bounds them
        total = sum(min(s.frame_count or args.max_frames, args.max_frames) for s in sources)
    bar = progress_bar(total, args.no_progress)
    shared = getattr(args, "progress", None)  # (frames written, frames expected) read by a --processes parent
    if shared is not None:
        shared[1].value = total or -1
    pipe = Pipeline(sources, detector, config, out_dir=args.out, outputs=outputs, tiles=tiles,
                    on_frame=_frame_counter(bar, shared), steps=steps, sinks=view.sinks if view is not None else None)
    if view is not None:
        view.bind(pipe.stop)  # q, Esc or closing the window: the run stops, every output is closed
    try:
        summary = pipe.run()
        if view is not None:
            view.close()  # with display://N?hold=1: once the user closes the window
    except (KeyboardInterrupt, TrafficpipeError):  # Ctrl-C (the usual end of a live run) or a failed source: the
        if pipe.summary is not None:  # outputs are closed; report what was done before the error line
            _report(pipe.summary)
        raise
    finally:
        if view is not None:
            view.close(hold=False)
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


def _display_uri(args, kinds):
    """The live view's display URI from --show or a display:// entry of --save (None without)."""
    uris = [k for k in kinds or () if is_display_uri(k)]
    if len(uris) > 1:
        raise TrafficpipeError("one live view per run: %s" % ", ".join(uris))
    return uris[0] if uris else (DEFAULT_URI if getattr(args, "show", False) else None)


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


def _report(summary):
    for s in summary.sources:
        bad = s.get("unreadable") or 0
        unwritten = s.get("unwritten") or 0
        logger.info("{}: {} frames in, {} written, {} dropped, {}{}{} reconnects, {:.1f} fps, latency p50 {:.0f} ms "
                    "p99 {:.0f} ms [{}]", s["name"], s["frames_in"], s["frames_out"], s["dropped"],
                    "%d unwritten (the run was stopped), " % unwritten if unwritten else "",
                    "%d unreadable (skipped), " % bad if bad else "", s["reconnects"],
                    s["fps"], s["latency_ms"]["p50"], s["latency_ms"]["p99"], s["state"])
    logger.info("{} frames written in {:.2f}s = {:.1f} fps; {}", summary.frames_out, summary.wall_s, summary.fps,
                "outputs in %s" % summary.out_dir if summary.out_dir and os.path.isdir(summary.out_dir)
                else "no output files")
