"""`trafficpipe build-engine MODEL.onnx`: build (or find in the cache) a TensorRT plan ahead of time."""
import os
import sys

from ..errors import EngineError, ModelError

PRECISIONS = ("fp32", "fp16", "int8")


def add_parser(sub):
    from ..cli_values import batch_size, nonneg_int, positive_int
    p = sub.add_parser(
        "build-engine", help="build a TensorRT engine (plan) from an ONNX model",
        description="Build a TensorRT plan for this GPU and TensorRT version, or reuse the cached one. "
                    "`trafficpipe detect --engine tensorrt --model MODEL.onnx` then loads it from the cache.")
    p.add_argument("model", metavar="MODEL.onnx", help="ONNX file, file name in the model folders, or alias")
    p.add_argument("--precision", default="fp32", choices=PRECISIONS, help="engine precision (default fp32; int8 "
                   "needs --calib and a GPU with fast INT8; TensorRT 11 takes the precision from the ONNX file)")
    p.add_argument("--calib", default=None, metavar="DIR_OR_DATASET",
                   help="INT8 calibration images: an image folder or a dataset folder with annotations.json")
    p.add_argument("--calib-images", type=positive_int, default=200, metavar="N",
                   help="at most N calibration images, spread over the set (default 200)")
    p.add_argument("--batch", type=batch_size, default=1, help="largest batch per call (default 1); a fixed-batch-1 "
                   "model is made batch-dynamic where its graph allows, else it runs one frame per call")
    p.add_argument("--contexts", type=positive_int, default=1, metavar="N",
                   help="execution contexts the plan runs in at once, as `detect --contexts N` (default 1; TensorRT "
                        "8.0-8.5 build an optimization profile for each, plus one)")
    p.add_argument("--workspace", type=positive_int, default=None, metavar="MB", help="builder workspace limit in MB "
                   "(default: 256 on TensorRT 8.0-8.3, TensorRT's own default from 8.4)")
    p.add_argument("--plugin-lib", action="append", default=[], metavar="PATH",
                   help="TensorRT plugin library to load first (repeatable); a build of libnvinfer_plugin has its "
                        "initLibNvInferPlugins called before TensorRT's own (see docs/tensorrt.md)")
    p.add_argument("--arch", default=None, help="detector family (for INT8 calibration preprocessing) when the file "
                   "name does not tell")
    p.add_argument("--out", default=None, metavar="PLAN", help="also write the plan here, with a PLAN.json sidecar")
    p.add_argument("--cache-dir", default=None, help="plan cache folder (default $TRAFFICPIPE_CACHE/tensorrt)")
    p.add_argument("--force", action="store_true", help="rebuild even when a valid cached plan exists")
    p.add_argument("--device", type=nonneg_int, default=0, help="CUDA device (default 0)")
    return p


def run(args):
    from ..models.registry import ADAPTERS, find_model
    # the arguments first: a wrong one is named as such, also on a machine without TensorRT
    model = find_model(args.model)
    if not model.lower().endswith(".onnx"):
        raise ModelError("build-engine builds from an ONNX file; %s is not one" % model)
    if args.arch is not None and args.arch not in ADAPTERS:
        raise ModelError("--arch %s: unknown detector family; choose from %s" % (args.arch, ", ".join(sorted(ADAPTERS))))
    if args.calib and args.precision != "int8":
        raise EngineError("--calib is for --precision int8")
    if args.calib and not os.path.exists(args.calib):
        raise EngineError("--calib %s does not exist" % args.calib)
    check_onnx(model)
    for lib in args.plugin_lib:
        path = os.path.abspath(os.path.expanduser(lib))
        if not os.path.isfile(path):
            raise EngineError("--plugin-lib %s: %s" % (lib, "not a file" if os.path.exists(path) else "does not exist"))
    if args.out:
        if os.path.isdir(args.out):
            raise EngineError("--out %s is a folder; give the plan's file name" % args.out)
        check_folder(os.path.dirname(os.path.abspath(args.out)), "--out %s" % args.out)
        _check_plan_out(args.out, model)
    if args.cache_dir is not None:
        check_folder(args.cache_dir, "--cache-dir %s" % args.cache_dir)
    if args.calib and args.precision == "int8":
        from .trt_calibrator import calibration_images
        calibration_images(args.calib, args.calib_images)  # a set that cannot be read is named now
    from .trt_api import import_tensorrt, trt_logger, error_summary
    trt = import_tensorrt()  # one line saying how to get TensorRT where it is missing
    from .gpu_runtime import CudaRuntime
    from .plan_cache import write_plan
    from .trt_build import obtain_plan
    runtime = CudaRuntime.get(args.device)
    data, path, side = obtain_plan(model, args.precision, args.batch, args.workspace, args.calib, args.calib_images,
                                   args.arch, args.cache_dir, runtime, args.plugin_lib, args.force, args.contexts)
    lg = trt_logger(trt)
    with runtime.activate():  # the plan must load here: same TensorRT, same GPU, plugins present
        engine = trt.Runtime(lg).deserialize_cuda_engine(data)
        if engine is None:
            raise EngineError("the plan built for %s does not load: %s" % (
                os.path.basename(model), error_summary(lg, "deserialize_cuda_engine returned None")))
        del engine
    out = path
    if args.out:
        out = os.path.abspath(args.out)
        extra = dict((k, v) for k, v in side.items()
                     if k not in ("key", "plan_sha256", "plan_bytes", "created", "from_cache"))
        write_plan(out, data, side["key"], extra)
    key = side["key"]
    sys.stdout.write("plan: %s\n" % out)
    sys.stdout.write("  TensorRT %s on %s (sm %s), %s, batch %d, input %s, %.1f MB%s\n" % (
        key["tensorrt"], key["gpu"], key["compute_capability"], key["precision"], key["batch"],
        "x".join(str(d) for d in key["input_shape"]), len(data) / 1e6,
        " (from the cache)" if side.get("from_cache") else ", built in %.1f s" % side.get("build_seconds", 0.0)))
    return 0


def check_onnx(path):
    # type: (str) -> None
    """ModelError (one line) unless `path` is an ONNX model: read as one, and parsed where the onnx package is."""
    from .onnx_graph import load_onnx, read_model
    read_model(path)
    try:
        import onnx  # noqa: F401
    except ImportError:
        return
    load_onnx(path)


def check_folder(path, what):
    # type: (str, str) -> None
    """EngineError (one line, starting with `what`) unless `path` is a folder or one that can be made: what of it
    exists is a writable folder. Creates nothing."""
    from ..paths import folder_problem
    why = folder_problem(path)
    if why:
        raise EngineError("%s: %s" % (what, why))


def _check_plan_out(out, model):
    # type: (str, str) -> None
    """EngineError (one line) where the plan or its sidecar (`PLAN.json`) would write over the model, or over a file
    that is no plan of build-engine's (a model card, another model): a plan written before is replaced, nothing
    else."""
    from ..models.model_card import card_path
    from .plan_cache import read_sidecar, sidecar_path
    for path in (out, sidecar_path(out)):
        if os.path.exists(path) and os.path.realpath(path) in (os.path.realpath(model),
                                                              os.path.realpath(card_path(model))):
            raise EngineError("--out %s would write over %s, the model or its card; give the plan its own name "
                              "(e.g. %s.plan)" % (out, path, os.path.splitext(os.path.basename(model))[0]))
    side = read_sidecar(out)
    ours = side is not None and "plan_sha256" in side and "key" in side
    if not ours and (os.path.exists(out) or os.path.exists(sidecar_path(out))):
        raise EngineError("--out %s would replace %s, which is no plan written by build-engine; choose another --out"
                          % (out, out if os.path.exists(out) else sidecar_path(out)))
