"""`trafficpipe bench [SRC]`: stage ceilings, the seed loop and the pipeline side by side; a table and JSON."""
import json
import os
import sys

from ..errors import TrafficpipeError
from ..log import logger
from ..paths import data_dir
from ..redact import redact

DEFAULT_VIDEO = os.path.join("videos", "highway-720p.mp4")

#: the defaults of the options one mode only reads: None in the parser, so an option given to the mode that does not
#: read it is refused instead of ignored (run fills these in)
DEFAULTS = {"frames": 300, "repeat": 3, "warmup": 10, "seed_engine": "defaults", "live_seconds": 10.0,
            "live_p99": 100.0}
#: (dest, option) the default mode reads (stage ceilings, seed loop, pipeline) and --live does not
NOT_LIVE = (("frames", "--frames"), ("repeat", "--repeat"), ("warmup", "--warmup"), ("seed_engine", "--seed-engine"),
            ("plot", "--plot"), ("streams", "--streams"), ("stream_processes", "--stream-processes"),
            ("mps", "--mps"), ("out", "--out"))
#: (dest, option) only --live reads
LIVE_ONLY = (("live_seconds", "--live-seconds"), ("live_p99", "--live-p99"))
#: the most seconds one --live step may run (a day)
MAX_LIVE_SECONDS = 86400.0


def _streams(text):
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise TrafficpipeError("--streams takes comma-separated source counts, e.g. 1,2,4 (got %r)" % text)
    if not counts or any(n < 1 for n in counts):
        raise TrafficpipeError("--streams takes positive source counts, e.g. 1,2,4 (got %r)" % text)
    return counts


def add_parser(sub):
    from ..cli_values import batch_size, non_empty, nonneg_int, positive_float, positive_float_at_most, positive_int
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
    g.add_argument("--frames", type=positive_int, default=None,
                   help="frames per run (each stage's ceiling decodes them once into memory; default %d)"
                        % DEFAULTS["frames"])
    g.add_argument("--repeat", type=positive_int, default=None,
                   help="repeats; figures are medians (default %d)" % DEFAULTS["repeat"])
    g.add_argument("--json", type=non_empty, default=None, metavar="FILE",
                   help="write the full report (every repeat) as JSON")
    g.add_argument("--plot", type=non_empty, default=None, metavar="FILE.png",
                   help="draw per-stage latency distributions and a frame timeline (needs matplotlib; the file's "
                        "extension gives the format: .png, .svg, .pdf, .jpg...; none: .png is added)")
    g.add_argument("--output", default="video", choices=("video", "jsonl", "none"),
                   help="what the pipeline and the seed loop write: annotated video (draw + encode, as the "
                        "reference detect_video does), JSON lines, or nothing (default %(default)s)")
    g.add_argument("--streams", default=None, metavar="N,N,...",
                   help="multi-source mode: also run the pipeline on the same file opened N times as N sources, for "
                        "each N (e.g. 1,2,4), reporting aggregate fps, scaling and per-source latency")
    g.add_argument("--stream-processes", action="store_true",
                   help="with --streams: multi-source mode with one process per source (each its own detector and "
                        "GIL), started "
                        "together, instead of one process for all")
    g.add_argument("--mps", action="store_true",
                   help="run under CUDA MPS (uses a running daemon, else starts a private one for the bench and stops "
                        "it after): with --stream-processes the processes' GPU work runs side by side instead of "
                        "time-slicing (GPU engines only)")
    g.add_argument("--live", default=None, metavar="N,N,...",
                   help="live-capacity mode instead of the above: replay the clip as N live cameras at its native "
                        "rate (replay://), for each N in turn, and report the most served with no frame dropped and "
                        "p99 capture->output latency within --live-p99 (e.g. 8,16,32,64). Takes the model, engine, "
                        "tile and pipeline options, --track, --output and --json; not --frames, --repeat, --warmup, "
                        "--seed-engine, --plot, --streams, --stream-processes, --mps or --out")
    g.add_argument("--live-seconds", type=positive_float_at_most(MAX_LIVE_SECONDS), default=None, metavar="S",
                   help="with --live: seconds each live-capacity step runs, more than 0 (default %g)"
                        % DEFAULTS["live_seconds"])  # expert
    g.add_argument("--live-p99", type=positive_float, default=None, metavar="MS",
                   help="with --live: live-capacity latency limit, p99 ms, more than 0 (default %g)"
                        % DEFAULTS["live_p99"])  # expert
    g.add_argument("--seed-engine", default=None, choices=("defaults", "same"),
                   help="the engine the seed loop runs on: 'defaults' = with ONNX Runtime, its own defaults as a "
                        "plain script has them (every core for one run at a time, spinning threads), so "
                        "the pipeline is compared with the seed loop at its best; 'same' = the pipeline's engine "
                        "(with ONNX Runtime: one thread per run, two runs in flight). GPU engines always use 'same' "
                        "(default %s)" % DEFAULTS["seed_engine"])
    g.add_argument("--warmup", type=nonneg_int, default=None,
                   help="untimed inferences before measuring (default %d)" % DEFAULTS["warmup"])
    g.add_argument("--out", type=non_empty, default=None, metavar="DIR",
                   help="keep what the runs write in DIR: DIR/ceilings, DIR/seed, DIR/pipeline and DIR/streams-N "
                        "(default: a temporary folder, removed; not with --output none, which writes nothing)")
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


def command_line(args, source, live=False):
    # type: (object, str, bool) -> str
    """The full `trafficpipe bench` command line that reproduces this run (every option spelled out); with `live`
    without the options --live does not take (run_live adds its own)."""
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
    if live:
        dropped = ("--frames", "--repeat", "--seed-engine", "--warmup")  # options of the default mode, with values
        kept = parts[:3]
        i = 3
        while i < len(parts):
            if parts[i] in dropped:
                i += 2
                continue
            kept.append(parts[i])
            i += 1
        parts = kept
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
    check_combinations(args)  # before anything else: an option the mode does not read is refused, not ignored
    for dest, value in DEFAULTS.items():
        if getattr(args, dest, None) is None:
            setattr(args, dest, value)
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
    if args.plot:
        from .plot import plot_file
        try:
            import matplotlib  # noqa: F401 - fail before minutes of measuring, not after
        except ImportError:
            raise TrafficpipeError("--plot needs matplotlib: pip install matplotlib")
        args.plot = plot_file(args.plot)  # the file written: an image type, .png added where there is no extension
    check_off_source(played, args, streams)  # no report, plot or output lands on what is measured
    if args.json:
        check_writable(args.json)  # before minutes of measuring, not after
    if args.plot:
        if args.json and same_file(args.json, args.plot):
            raise TrafficpipeError("--json and --plot name the same file %s; give each its own" % args.plot)
        check_writable(args.plot)  # as --json: before minutes of measuring, not after
    if args.out:
        check_out_folder(args.out, streams)
    if args.track:  # as detect --track: ByteTrack continues tracks with low-score detections
        from ..tracking import TrackerConfig
        args.conf = min(args.conf, TrackerConfig().low)
    if args.live:
        return run_live(args, source, config)
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
        logger.info("plot written to {}", plot_report(report, raw, args.plot))
    return 0


def check_combinations(args):
    """TrafficpipeError (one line, exit 2) for options the chosen mode would ignore: --live runs the live-capacity
    ramp only (no ceilings, seed loop, repeats, plot or multi-source runs), --live-seconds and --live-p99 are its
    own, --stream-processes runs the --streams counts, and --out keeps outputs that --output none does not write."""
    def given(dest):  # None: left out (DEFAULTS); False: a switch not given; 0 (--warmup 0) is given
        value = getattr(args, dest, None)
        return value is not None and value is not False

    def listed(options):
        return ", ".join(options[:-1]) + " or " + options[-1] if len(options) > 1 else options[0]

    if args.live:
        extra = [opt for dest, opt in NOT_LIVE if given(dest)]
        if extra:
            raise TrafficpipeError("--live measures live capacity only: it does not take %s" % listed(extra))
    else:
        extra = [opt for dest, opt in LIVE_ONLY if given(dest)]
        if extra:
            raise TrafficpipeError("%s %s only with --live (the live-capacity mode): give --live N,N,... too, or "
                                   "leave %s out" % (listed(extra), "apply" if len(extra) > 1 else "applies",
                                                     "them" if len(extra) > 1 else "it"))
    if args.stream_processes and not args.streams:
        raise TrafficpipeError("--stream-processes runs the --streams counts one process per source: give --streams "
                               "N,N,... too")
    if args.out and args.output == "none":
        raise TrafficpipeError("--out keeps what the runs write, and --output none writes nothing: give --output "
                               "video or jsonl, or leave --out out")


def _key(path):
    # type: (str) -> str
    return os.path.normcase(os.path.realpath(path))


def _inside(key, folder_key):
    # type: (str, str) -> bool
    """Whether the path `key` is the folder `folder_key` or lies in it (both `_key`s)."""
    return key == folder_key or key.startswith(folder_key.rstrip(os.sep) + os.sep)


def same_file(a, b):
    # type: (str, str) -> bool
    """Whether the paths `a` and `b` name one file (links and hard links followed; either may not exist yet)."""
    if _key(a) == _key(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def out_folders(out_dir, streams):
    # type: (str, list) -> list
    """The folders a bench run writes under --out DIR: ceilings, seed, pipeline and streams-N."""
    subs = ["ceilings", "seed", "pipeline"] + ["streams-%d" % n for n in streams]
    return [os.path.join(out_dir, sub) for sub in subs]


def check_off_source(source, args, streams):
    """TrafficpipeError (one line) where --json or --plot would write onto the source (or into its folder, for an
    image folder), or --out is the source, lies in its folder or would write where the source lies (DIR/pipeline
    holding it: the run writes there a file of the source's own name)."""
    from ..pipeline.inputs import input_paths
    inputs = input_paths(source)
    for opt, target in (("--json", args.json), ("--plot", args.plot)):
        for path, folder in inputs if target else ():
            if same_file(target, path):
                raise TrafficpipeError("%s %s would overwrite the source %s; choose another file"
                                       % (opt, target, path))
            if folder and _inside(_key(target), _key(path)):
                raise TrafficpipeError("%s %s would write into the source folder %s; choose another file"
                                       % (opt, target, path))
    if not args.out:
        return
    for path, folder in inputs:
        if same_file(args.out, path):
            raise TrafficpipeError("--out %s is the source %s; choose an output folder" % (args.out, path))
        if folder and _inside(_key(args.out), _key(path)):
            raise TrafficpipeError("--out %s lies in the source folder %s; choose another output folder"
                                   % (args.out, path))
        for sub in out_folders(args.out, streams):
            if _inside(_key(path), _key(sub)):
                raise TrafficpipeError("--out %s would write into %s, which holds the source %s; choose another "
                                       "output folder" % (args.out, sub, path))


def check_out_folder(out_dir, streams):
    """TrafficpipeError (one line) unless the folder --out DIR and the bench's folders in it can be made and written
    (nothing is created): DIR or one of them a file, a file on the way to DIR, a folder that is not writable."""
    if os.path.lexists(out_dir) and not os.path.isdir(out_dir):
        raise TrafficpipeError("--out %s is a file, not a folder; choose an output folder" % out_dir)
    for sub in out_folders(out_dir, streams):
        if os.path.lexists(sub) and not os.path.isdir(sub):
            raise TrafficpipeError("--out %s holds a file %s where the bench writes a folder; choose another output "
                                   "folder" % (out_dir, sub))
    from ..paths import folder_problem
    why = folder_problem(out_dir)
    if why:
        raise TrafficpipeError("cannot make --out %s: %s" % (out_dir, why))


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
    from ..commands.options import make_pipeline_detector, tile_plan
    from ..sources.video import check_video_file, set_decode_threads, set_decoder
    from .live_capacity import format_live_capacity, measure_live_capacity
    from .machine import describe_machine
    counts = _streams(args.live)
    if not (0 < args.live_seconds <= MAX_LIVE_SECONDS and 0 < args.live_p99 < float("inf")):  # nan fails both
        raise TrafficpipeError("--live-seconds takes more than 0 up to %g, --live-p99 more than 0 (got %r, %r)"
                               % (MAX_LIVE_SECONDS, args.live_seconds, args.live_p99))
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
                                       config=config, track=args.track, tiles=tile_plan(args))
        report["detector"] = detector.describe()
    finally:
        detector.close()
    report["decode_threads"] = args.decode_threads
    report["machine"] = describe_machine(detector.engine.name, report["detector"].get("gpu"))
    report["command"] = "trafficpipe bench %s --live %s --live-seconds %g --live-p99 %g %s" % (
        path, ",".join(str(n) for n in counts), args.live_seconds, args.live_p99,
        " ".join(command_line(args, path, live=True).split()[3:]))
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
