"""`trafficpipe bench [SRC]`: stage ceilings, the seed loop and the pipeline side by side; a table and JSON."""
import json
import os
import sys

from ..errors import TrafficpipeError
from ..log import logger
from ..paths import data_dir
from ..redact import redact

DEFAULT_VIDEO = os.path.join("videos", "highway-720p.mp4")


def _streams(text):
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise TrafficpipeError("--streams takes comma-separated source counts, e.g. 1,2,4 (got %r)" % text)
    if not counts or any(n < 1 for n in counts):
        raise TrafficpipeError("--streams takes positive source counts, e.g. 1,2,4 (got %r)" % text)
    return counts


def add_parser(sub):
    from ..cli_values import batch_size, nonneg_int, positive_int
    from ..commands.options import add_decoding_options, add_model_options, add_tile_options
    p = sub.add_parser(
        "bench", help="measure stage ceilings, the one-thread seed loop and the threaded pipeline on one source",
        description="Measure, on the same source, model and engine, in one process: (1) each stage alone on the same "
                    "frames (decode, preprocess, infer, postprocess, encode = draw + write), (2) the seed loop (the "
                    "reference one-thread read -> preprocess -> infer -> postprocess -> draw -> write), "
                    "(3) the "
                    "threaded pipeline. Reports per-stage latency p50/p95/p99, busy fraction, queue waits, depth and "
                    "drops, end-to-end fps and capture->write latency, the bound = max(slowest stage's time per frame, "
                    "CPU work per frame / cores) and the ratios pipeline/seed and pipeline/bound, with the machine. "
                    "Repeats give the median and the spread (±x% = half the min-max spread). The video, jsonl or no "
                    "output is written by the seed loop and the pipeline alike, to a temporary folder.")
    p.add_argument("source", nargs="?", default=None, metavar="SRC",
                   help="video file (or any source detect takes); default: $TRAFFICPIPE_DATA/%s" % DEFAULT_VIDEO)
    add_model_options(p)
    add_tile_options(p)
    g = p.add_argument_group("bench")
    g.add_argument("--frames", type=positive_int, default=300,
                   help="frames per run (each stage's ceiling decodes them once into memory; default %(default)s)")
    g.add_argument("--repeat", type=positive_int, default=3, help="repeats; figures are medians (default %(default)s)")
    g.add_argument("--json", default=None, metavar="FILE", help="write the full report (every repeat) as JSON")
    g.add_argument("--plot", default=None, metavar="FILE.png",
                   help="draw per-stage latency distributions and a frame timeline (needs matplotlib)")
    g.add_argument("--output", default="video", choices=("video", "jsonl", "none"),
                   help="what the pipeline and the seed loop write: annotated video (draw + encode, as the "
                        "reference detect_video does), JSON lines, or nothing (default %(default)s)")
    g.add_argument("--streams", default=None, metavar="N,N,...",
                   help="multi-source mode: also run the pipeline on the same file opened N times as N sources, for "
                        "each N (e.g. 1,2,4), reporting aggregate fps, scaling and per-source latency")
    g.add_argument("--stream-processes", action="store_true",
                   help="multi-source mode with one process per source (each its own detector and GIL), started "
                        "together, instead of one process for all")
    g.add_argument("--mps", action="store_true",
                   help="run under CUDA MPS (uses a running daemon, else starts a private one for the bench and stops "
                        "it after): with --stream-processes the processes' GPU work runs side by side instead of "
                        "time-slicing (GPU engines only)")
    g.add_argument("--live", default=None, metavar="N,N,...",
                   help="live-capacity mode instead of the above: replay the clip as N live cameras at its native "
                        "rate (replay://), for each N in turn, and report the most served with no frame dropped and "
                        "p99 capture->output latency within --live-p99 (e.g. 8,16,32,64)")
    g.add_argument("--live-seconds", type=float, default=10.0,
                   help="seconds each live-capacity step runs (default %(default)s)")  # expert
    g.add_argument("--live-p99", type=float, default=100.0, metavar="MS",
                   help="live-capacity latency limit, p99 ms (default %(default)s)")  # expert
    g.add_argument("--seed-engine", default="defaults", choices=("defaults", "same"),
                   help="the engine the seed loop runs on: 'defaults' = with ONNX Runtime, its own defaults as a "
                        "plain script has them (every core for one run at a time, spinning threads), so "
                        "the pipeline is compared with the seed loop at its best; 'same' = the pipeline's engine "
                        "(with ONNX Runtime: one thread per run, two runs in flight). GPU engines always use 'same' "
                        "(default %(default)s)")
    g.add_argument("--warmup", type=nonneg_int, default=10, help="untimed inferences before measuring (default %(default)s)")
    g.add_argument("--out", default=None, metavar="DIR",
                   help="keep what the runs write in DIR (default: a temporary folder, removed)")
    g = p.add_argument_group("pipeline")
    g.add_argument("--batch", type=batch_size, default=None, help="frames per inference call in the pipeline and the inference "
                   "ceiling (default as detect: 4 on GPU engines, 1 on ONNX Runtime; the seed loop runs one frame at "
                   "a time)")
    g.add_argument("--contexts", type=positive_int, default=1, help="execution contexts (default 1)")
    g.add_argument("--preprocess-workers", type=positive_int, default=None,
                   help="preprocess threads (default as detect: 1 on GPU engines, 2 on ONNX Runtime)")
    g.add_argument("--postprocess-workers", type=positive_int, default=1, help="postprocess threads (default 1)")
    g.add_argument("--decode-workers", type=positive_int, default=1,
                   help="decoder threads per video file, each on keyframe-aligned chunks (default 1)")
    add_decoding_options(g)
    g.add_argument("--writers", type=positive_int, default=1, help="writer threads, sources spread over them (default 1)")
    g.add_argument("--track", action="store_true", help="run the tracker in the pipeline (ByteTrack; the detector's "
                   "threshold lowered to the tracker's): its time per frame is the `track` stage row")
    g.add_argument("--queue-size", type=positive_int, default=8, help="per-source queue capacity (default 8)")
    return p


def command_line(args, source):
    # type: (object, str) -> str
    """The full `trafficpipe bench` command line that reproduces this run (every option spelled out)."""
    parts = ["trafficpipe", "bench", source, "--model", str(args.model or "default"), "--engine", args.engine,
             "--precision", args.precision, "--threads", str(args.threads), "--frames", str(args.frames),
             "--repeat", str(args.repeat), "--output", args.output, "--batch", str(args.batch),
             "--contexts", str(args.contexts), "--preprocess-workers", str(args.preprocess_workers),
             "--postprocess-workers", str(args.postprocess_workers), "--decode-workers", str(args.decode_workers),
             "--decode-threads", str(args.decode_threads), "--decoder", args.decoder,
             "--writers", str(args.writers),
             "--queue-size", str(args.queue_size), "--seed-engine", args.seed_engine, "--warmup", str(args.warmup),
             "--tiles", getattr(args, "tiles", "auto"), "--conf", "%g" % args.conf, "--iou", "%g" % args.iou]
    if args.model is None:
        parts[3:5] = []
    if getattr(args, "tiles", "auto") != "off":
        parts += ["--tile-ratio", "%g" % args.tile_ratio, "--tile-overlap", "%g" % args.tile_overlap]
    if args.arch:
        parts += ["--arch", args.arch]
    if args.classes:
        parts += ["--classes", args.classes]
    for lib in args.plugin_lib:
        parts += ["--plugin-lib", lib]
    if args.in_flight is not None:
        parts += ["--in-flight", str(args.in_flight)]
    if getattr(args, "decode_processes", 0):
        parts += ["--decode-processes", str(args.decode_processes)]
    if getattr(args, "track", False):
        parts.append("--track")
    if args.streams:
        parts += ["--streams", ",".join(str(n) for n in _streams(args.streams))]
        if args.stream_processes:
            parts.append("--stream-processes")
    if getattr(args, "mps", False):
        parts.append("--mps")
    if args.engine == "torch" and args.cuda_graphs is not None:
        parts.append("--cuda-graphs" if args.cuda_graphs else "--no-cuda-graphs")
    if getattr(args, "device_io", None) is not None:
        parts.append("--device-io" if args.device_io else "--no-device-io")
    return redact(" ".join(parts))


def run(args):
    from ..commands.options import check_decode_processes, detector_kwargs, make_detector, make_pipeline_detector, tile_plan
    from .report import format_report
    from .runner import BenchConfig, run_bench

    from ..run_config import announce, resolve
    source = args.source or os.path.join(data_dir(), DEFAULT_VIDEO)
    streams = _streams(args.streams) if args.streams else []
    if args.frames is not None and args.frames < 1:
        raise TrafficpipeError("--frames must be at least 1")
    if args.repeat < 1:
        raise TrafficpipeError("--repeat must be at least 1")
    for opt in ("batch", "contexts", "preprocess_workers", "postprocess_workers", "decode_workers", "writers",
                "queue_size", "in_flight"):
        if getattr(args, opt) is not None and getattr(args, opt) < 1:
            raise TrafficpipeError("--%s must be at least 1" % opt.replace("_", "-"))
    # the defaults detect would use on this machine for this source; --live plays it as cameras (replay://)
    played = "replay://" + source if args.live and not source.startswith("replay://") else source
    config = resolve(args, [played])
    check_decode_processes(args)
    if args.json:
        check_writable(args.json)  # before minutes of measuring, not after
    if args.track:  # as detect --track: ByteTrack continues tracks with low-score detections
        from ..tracking import TrackerConfig
        args.conf = min(args.conf, TrackerConfig().low)
    if args.live:
        return run_live(args, source, config)
    if args.plot:
        try:
            import matplotlib  # noqa: F401 - fail before minutes of measuring, not after
        except ImportError:
            raise TrafficpipeError("--plot needs matplotlib: pip install matplotlib")
        check_writable(args.plot)  # as --json: before minutes of measuring, not after
    cfg = BenchConfig(source, config, frames=args.frames, repeat=args.repeat, output=args.output, streams=streams,
                      warmup=args.warmup, out_dir=args.out, stream_processes=args.stream_processes,
                      detector_kwargs=detector_kwargs(args), track=args.track, tiles=tile_plan(args))
    from ..sources.factory import open_source
    from ..sources.video import set_decode_threads, set_decoder
    set_decode_threads(args.decode_threads)
    set_decoder(args.decoder)
    open_source(source).close()  # a bad source fails in one line before the model loads
    announce(config)
    from ..engines.mps import mps_daemon
    with mps_daemon(args.mps, args.engine) as mps_pipe:  # before this process first touches CUDA
        detector = make_pipeline_detector(args)
        seed_detector = None
        try:
            if args.seed_engine == "defaults" and detector.engine.name == "onnxruntime":
                seed_detector = make_detector(args, engine="onnxruntime", threads=args.threads, concurrency=1,
                                              spinning=True)
            report, raw = run_bench(cfg, detector, command_line(args, source), seed_detector)
        finally:
            detector.close()
            if seed_detector is not None:
                seed_detector.close()
    report["mps"] = mps_pipe or None  # the MPS daemon's pipe folder the run went through
    sys.stdout.write(format_report(report))
    if args.json:
        write_json(report, args.json)
        logger.info("report written to {}", args.json)
    if args.plot:
        from .plot import plot_report
        plot_report(report, raw, args.plot)
        logger.info("plot written to {}", args.plot)
    return 0


def check_writable(path):
    """TrafficpipeError (one line) unless a file can be written at `path` (its folder is created; nothing written)."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise TrafficpipeError("cannot write %s: it is a folder" % path)
    try:
        if not os.path.isdir(folder):
            os.makedirs(folder)
    except OSError as e:
        raise TrafficpipeError("cannot write %s: %s" % (path, e.strerror or e))
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise TrafficpipeError("cannot write %s: permission denied" % path)


def run_live(args, source, config):
    """`--live N,N,...`: the live-capacity ramp (bench/live_capacity.py) with the run's settings `config` (a
    RunConfig), a table and the JSON report."""
    from ..commands.options import make_pipeline_detector
    from ..sources.video import check_video_file, set_decode_threads, set_decoder
    from .live_capacity import format_live_capacity, measure_live_capacity
    from .machine import describe_machine
    counts = _streams(args.live)
    if args.live_seconds <= 0:
        raise TrafficpipeError("--live-seconds must be positive")
    if args.decoder != "opencv" or args.decode_processes:
        raise TrafficpipeError("--live replays the clip with OpenCV in each camera's capture thread; it does not "
                               "combine with --decoder nvdec or --decode-processes")
    path = source[len("replay://"):] if source.startswith("replay://") else source
    check_video_file(path)
    set_decode_threads(args.decode_threads)
    set_decoder("opencv")
    detector = make_pipeline_detector(args)
    try:
        report = measure_live_capacity(path, detector, counts, args.live_seconds, args.output, args.live_p99,
                                       config=config)
        report["detector"] = detector.describe()
    finally:
        detector.close()
    report["decode_threads"] = args.decode_threads
    report["machine"] = describe_machine(detector.engine.name, report["detector"].get("gpu"))
    report["command"] = "trafficpipe bench %s --live %s --live-seconds %g --live-p99 %g --output %s %s" % (
        path, ",".join(str(n) for n in counts), args.live_seconds, args.live_p99, args.output,
        " ".join(command_line(args, path).split()[3:]))
    sys.stdout.write(format_live_capacity(report))
    if args.json:
        write_json(report, args.json)
        logger.info("report written to {}", args.json)
    return 0


def write_json(report, path):
    """Write `report` to `path` as indented JSON (folders created)."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        if not os.path.isdir(folder):
            os.makedirs(folder)
        text = redact(json.dumps(report, indent=1, sort_keys=False))  # no URL password in a file people commit
        with open(path, "w") as f:
            f.write(text + "\n")
    except (IOError, OSError) as e:
        raise TrafficpipeError("cannot write %s: %s" % (path, getattr(e, "strerror", None) or e))
