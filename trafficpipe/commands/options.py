"""The option groups and detector helpers that detect, bench and eval share: argparse groups and what is built from
their parsed values."""
import argparse

from ..cli_values import (float_above, fraction_below_one, int_at_least, nonneg_int, positive_int,
                          thread_count, unit_interval)
from ..errors import TrafficpipeError


def add_model_options(p, conf=0.3, classes=None, classes_help=None):
    """The model/engine options shared by detect, bench and eval; `classes` and `classes_help` give --classes another
    default and help (eval-track: pedestrian)."""
    g = p.add_argument_group("model and engine")
    g.add_argument("--model", default=None,
                   help="ONNX file, file name in the model folders, or alias (picodet-s-416, picodet-s-320, yolox-nano); "
                        "default: the default model")
    g.add_argument("--arch", default=None, help="detector family when the file name does not tell (picodet, yolox, ssd-nms)")
    g.add_argument("--engine", default="auto", choices=("auto", "onnxruntime", "torch", "tensorrt"),
                   help="inference engine (default auto: TensorRT where installed, else torch on a CUDA GPU, else "
                        "ONNX Runtime on the CPU)")
    g.add_argument("--precision", default=None, choices=("fp32", "fp16", "int8"),
                   help="engine precision (default fp16 on GPU engines, fp32 on ONNX Runtime)")
    g.add_argument("--threads", type=thread_count, default=0, help="ONNX Runtime intra-op threads (0 = all cores)")
    g.add_argument("--classes", default=classes, help=classes_help or "comma-separated traffic classes to report "
                   "(default: all of vehicle,pedestrian,bicycle,road_sign,traffic_light)")
    g.add_argument("--conf", type=unit_interval, default=conf, help="score threshold (default %(default)s)")
    g.add_argument("--iou", type=unit_interval, default=0.45, help="per-class NMS IoU threshold (default %(default)s)")
    g.add_argument("--plugin-lib", action="append", default=[], metavar="PATH",
                   help="TensorRT plugin library to load (repeatable; a build of libnvinfer_plugin is initialised "
                        "before TensorRT's own plugins)")
    g.add_argument("--cuda-graphs", dest="cuda_graphs", action="store_true", default=None,
                   help="torch engine: capture CUDA graphs (default: on)")
    g.add_argument("--no-cuda-graphs", dest="cuda_graphs", action="store_false", help="torch engine: run eagerly")
    g.add_argument("--device-io", dest="device_io", action="store_true", default=None,
                   help="normalise images and decode/rank boxes inside the engine (on the GPU for torch and "
                        "tensorrt); default: on for torch, off for onnxruntime and tensorrt")
    g.add_argument("--no-device-io", dest="device_io", action="store_false",
                   help="feed float tensors and decode the raw outputs on the CPU")


def add_track_options(g, what):
    """--track and --tracker, shared by detect and score (into argument group `g`); `what` tells what --track adds to
    the command's outputs."""
    g.add_argument("--track", action="store_true", help="follow objects over time (ByteTrack): " + what)
    g.add_argument("--tracker", default=None, choices=("bytetrack", "ocsort"),  # expert
                   help="tracking algorithm, with --track (default bytetrack)")


def tracker_name(args, tracking):
    # type: (object, bool) -> str
    """The --tracker of a run that tracks (bytetrack where not given); TrafficpipeError where it is given to a run
    that does not track, which would ignore it."""
    if not tracking:
        if args.tracker is not None:
            raise TrafficpipeError("--tracker %s needs --track" % args.tracker)
        return None
    return args.tracker or "bytetrack"


def add_decoding_options(g):
    """Video decoding and in-flight options shared by detect and bench (into argument group `g`)."""
    g.add_argument("--in-flight", type=positive_int, default=None,
                   help="batches the inference stage keeps submitted per context before it waits for the oldest "
                        "(default: the engine's concurrent runs + 1, so one waits ready while the others compute: 3 "
                        "for ONNX Runtime on 2 cores or more; 2 for GPU engines)")
    g.add_argument("--decoder", choices=("opencv", "nvdec"), default=None,
                   help="video file decoder: opencv (FFmpeg on the CPU, default) or nvdec (the NVIDIA GPU's hardware "
                        "decoder through PyNvVideoCodec; frames stay on the GPU; needs --engine torch, or tensorrt "
                        "with --device-io)")
    g.add_argument("--decode-threads", type=int_at_least(-1), default=None,
                   help="FFmpeg threads per video file decoder (0 = FFmpeg's choice, about one per core; "
                        "-1 = half the cores on machines of 12 or more; default 0, or 8 with decoder processes)")
    g.add_argument("--decode-processes", type=nonneg_int, default=None, metavar="N",
                   help="decode each video file in N child processes (keyframe-aligned chunks of MP4/MOV files, the "
                        "longest split where there are fewer than N; one process for other files), which also resize "
                        "the frames to the model's input, so "
                        "neither runs under this process's GIL: for GPU hosts where decoding is the limit (default: "
                        "3 for video files with a GPU engine on hosts of 12 cores or more, else 0 = decode in this "
                        "process; OpenCV decoder only)")


def check_decode_processes(args):
    """TrafficpipeError (one line) for a --decode-processes value that cannot run."""
    n = getattr(args, "decode_processes", 0)
    if n < 0:
        raise TrafficpipeError("--decode-processes must be 0 or more")
    if n and getattr(args, "decoder", "opencv") != "opencv":
        raise TrafficpipeError("--decode-processes decodes with OpenCV in child processes; it does not combine with "
                               "--decoder %s" % args.decoder)


def make_pipeline_detector(args):
    """`make_detector`, and with --decoder nvdec the check that its engine takes GPU-decoded frames (the detector is
    closed when it does not)."""
    detector = make_detector(args)
    if getattr(args, "decoder", "opencv") != "opencv":
        from ..engines.device_frames import check_takes_device_frames
        try:
            check_takes_device_frames(detector)
        except BaseException:
            detector.close()
            raise
    return detector


def add_tile_options(p):
    """Tiled inference options (detect, eval and bench)."""
    g = p.add_argument_group("tiled inference")
    g.add_argument("--tiles", choices=("off", "auto"), default="auto",
                   help="auto (default): frames at least --tile-ratio times wider (or taller) than the model's input "
                        "run whole and as overlapping tiles of the model's shape, merged (small objects in wide "
                        "frames, e.g. KITTI's 1242x375; 16:9 video is not tiled); off: every frame whole")
    g.add_argument("--tile-ratio", type=float_above(1.0), default=2.0,
                   help="aspect-ratio factor from which a frame is tiled (default %(default)s)")
    g.add_argument("--tile-overlap", type=fraction_below_one, default=0.35,
                   help="overlap of neighbouring tiles, a fraction of a tile (default %(default)s)")


def tile_plan(args):
    """The TilePlan of `--tiles auto` (None when off); TrafficpipeError (one line) on bad values."""
    if getattr(args, "tiles", "off") != "auto":
        return None
    from ..models.tiling import TilePlan
    try:
        return TilePlan(args.tile_ratio, args.tile_overlap)
    except ValueError as e:
        raise TrafficpipeError(str(e))


def engine_options(args):
    # type: (argparse.Namespace) -> dict
    """Engine keyword options from parsed arguments (only those an engine other than ONNX Runtime takes)."""
    opts = {}
    if args.engine == "tensorrt":
        if args.plugin_lib:
            opts["plugin_libs"] = args.plugin_lib
        if (getattr(args, "batch", None) or 1) > 1:
            opts["batch"] = args.batch  # the plan's largest batch (dynamic-batch models)
        if (getattr(args, "contexts", None) or 1) > 1:
            opts["contexts"] = args.contexts  # TensorRT 8.0-8.5 plans get an optimization profile per context
    if args.engine == "torch" and args.cuda_graphs is not None:
        opts["cuda_graphs"] = args.cuda_graphs
    if getattr(args, "device_io", None) is not None and args.engine in ("torch", "tensorrt", "onnxruntime", "auto"):
        opts["device_io"] = args.device_io
    return opts


def detector_kwargs(args, **overrides):
    # type: (argparse.Namespace, **object) -> dict
    """The Detector keyword arguments of the shared model options (plain values: they can go to another process)."""
    kw = dict(model=args.model, engine=args.engine, precision=args.precision, classes=args.classes, conf=args.conf,
              iou=args.iou, arch=args.arch, threads=args.threads)
    kw.update(engine_options(args))
    kw.update(overrides)
    return kw


def make_detector(args, **overrides):
    """A Detector from the shared model options."""
    from ..detector import Detector
    return Detector(**detector_kwargs(args, **overrides))
