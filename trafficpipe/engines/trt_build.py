"""Building TensorRT plans from ONNX files (Builder -> network -> OnnxParser -> config -> build_serialized_network),
and the plan cache in front of it (`obtain_plan`).

Follows NVIDIA's samples/python/efficientdet/build_engine.py (8.x) and the 8.x->10.x / 10.x->11.x migration guides;
every version difference goes through trt_api's feature detection.
"""
import hashlib
import os
import time


from ..errors import EngineError, ModelError
from ..log import logger
from ..paths import cache_dir as default_cache_dir
from .base import TensorSpec
from .gpu_runtime import CudaRuntime
from .onnx_graph import cleaned_model_path, file_sha256
from .plan_cache import PlanCache, read_sidecar
from .trt_api import (error_summary, fast_fp16, fast_int8, has_calibrators, has_precision_flags, import_tensorrt,
                      load_plugins, network_flags, np_dtype, profile_sharing, set_workspace, trt_logger, uses_pool_api,
                      version)

PRECISIONS = ("fp32", "fp16", "int8")
#: Builder workspace where the API still needs one set (max_workspace_size, before 8.4); later versions default to
#: the device's memory. 256 MiB suits a 4 GB Jetson Nano.
DEFAULT_WORKSPACE_MB = 256
CALIB_SUFFIX = ".calib"


def _one_line(obj):
    return " ".join(str(obj).split())


def check_precision(trt, builder, precision, runtime):
    """Refuse precisions this TensorRT or this GPU cannot build, with what to do instead."""
    if precision not in PRECISIONS:
        raise EngineError("unknown precision %r; choose from %s" % (precision, ", ".join(PRECISIONS)))
    if precision == "fp32":
        return
    if not has_precision_flags(trt):
        if precision == "fp16":
            raise EngineError(
                "TensorRT %s builds strongly typed networks only (no FP16 builder flag): the precision comes from the "
                "ONNX file. Convert it to FP16 first, e.g. python -m modelopt.onnx.autocast --onnx_path MODEL.onnx "
                "--low_precision_type fp16 --keep_io_types (NVIDIA Model Optimizer), then build that file with "
                "--precision fp32" % version(trt))
        raise EngineError(
            "TensorRT %s has no INT8 calibration (no INT8 builder flag or calibrators): quantize the ONNX file with "
            "Q/DQ nodes first, e.g. python -m modelopt.onnx.quantization --onnx_path MODEL.onnx --quantize_mode int8 "
            "--calibration_data CALIB.npy (NVIDIA Model Optimizer), then build that file with --precision fp32"
            % version(trt))
    name, cc = runtime.device_name, runtime.compute_capability
    if precision == "int8":
        if not has_calibrators(trt):
            raise EngineError("TensorRT %s offers no INT8 entropy calibrator: quantize the ONNX with Q/DQ nodes and "
                              "build it with --precision fp32" % version(trt))
        if not fast_int8(builder, cc):
            raise EngineError("INT8 needs a GPU with fast INT8 (compute capability 6.1 or 7.0 and newer); %s is sm_%d%d "
                              "and has none: use --precision fp16" % (name, cc[0], cc[1]))
    elif not fast_fp16(builder, cc):
        logger.warning("{} (sm_{}{}) has no fast FP16: an FP16 engine will not be faster than FP32", name, *cc)


def parse_onnx(trt, lg, builder, onnx_path):
    """(network, parser) for an ONNX file; ModelError after logging every parser error on its own line.

    The parser owns the network's weights: keep it alive until the build is done."""
    network = builder.create_network(network_flags(trt, builder))
    if network is None:
        raise EngineError("TensorRT could not create a network: %s" % error_summary(lg, "create_network failed"))
    parser = trt.OnnxParser(network, lg)
    with open(onnx_path, "rb") as f:
        data = f.read()
    if not parser.parse(data, onnx_path):
        errors = [_one_line(parser.get_error(i)) for i in range(parser.num_errors)]
        if not errors:
            errors = [error_summary(lg, "the parser gave no reason")]
        for e in errors:
            logger.error("TensorRT ONNX parser: {}", e)
        raise ModelError("TensorRT cannot parse %s: %d parser error%s (listed above), the first: %s"
                         % (os.path.basename(onnx_path), len(errors), "" if len(errors) == 1 else "s", errors[0]))
    return network, parser


def network_specs(trt, network):
    # type: (object, object) -> tuple
    """TensorSpecs (inputs, outputs) of a parsed network, in network (ONNX) order."""
    def spec(t):
        return TensorSpec(t.name, tuple(int(d) for d in t.shape), np_dtype(trt, t.dtype))
    return ([spec(network.get_input(i)) for i in range(network.num_inputs)],
            [spec(network.get_output(i)) for i in range(network.num_outputs)])


def graph_input_shape(onnx_path, trt=None, lg=None, runtime=None):
    # type: (str, object, object, object) -> tuple
    """Shape of the model's first input (-1 for a dynamic axis): from the onnx package where installed, else by
    parsing the file with TensorRT."""
    try:
        import onnx
    except ImportError:
        onnx = None
    if onnx is not None:
        try:
            m = onnx.load(onnx_path, load_external_data=False)
        except Exception as e:
            raise ModelError("%s is not a valid ONNX model (%s)" % (onnx_path, _one_line(e)[:200]))
        inits = set(i.name for i in m.graph.initializer)
        for vi in m.graph.input:
            if vi.name not in inits:
                return tuple(d.dim_value if d.HasField("dim_value") else -1 for d in vi.type.tensor_type.shape.dim)
        raise ModelError("%s has no input" % onnx_path)
    with runtime.activate():
        builder = trt.Builder(lg)
        network, parser = parse_onnx(trt, lg, builder, onnx_path)
        return tuple(int(d) for d in network.get_input(0).shape)


def calibration_adapter(model_path, inputs, outputs, arch=None):
    """The model's adapter (its preprocessing) for calibration images."""
    from ..models.model_card import model_classes
    from ..models.registry import create_adapter, guess_family
    family = arch or guess_family(model_path, outputs)
    opts = {}
    own = model_classes(model_path)
    if own is not None:
        opts["model_classes"] = own
    return create_adapter(family, inputs, outputs, **opts)


def profile_count(trt, contexts):
    # type: (object, int) -> int
    """Optimization profiles a dynamic-shape plan needs for `contexts` execution contexts: 1 where contexts share
    one (8.6 with PROFILE_SHARING_0806, 10.0+), else one per context plus one for a detector's own (8.0-8.5)."""
    return 1 if profile_sharing(trt) else max(1, int(contexts)) + 1


def build_plan(trt, lg, runtime, onnx_path, precision="fp32", batch=1, workspace_mb=None, calib_images=None,
               calib_cache=None, arch=None, model_path=None, contexts=1):
    """Build a serialized engine; returns (plan bytes, info dict). Raises ModelError/EngineError with one line.

    A dynamic-batch plan gets what `contexts` execution contexts need to run at once (`profile_count`)."""
    with runtime.activate():
        builder = trt.Builder(lg)
        check_precision(trt, builder, precision, runtime)
        network, parser = parse_onnx(trt, lg, builder, onnx_path)
        inputs, outputs = network_specs(trt, network)
        config = builder.create_builder_config()
        ws_api = None
        if workspace_mb:
            ws_api = set_workspace(trt, config, int(workspace_mb) << 20)
        elif not uses_pool_api(trt, config):
            ws_api = set_workspace(trt, config, DEFAULT_WORKSPACE_MB << 20)
        profile = None
        n_profiles = 0
        if any(d < 0 for s in inputs for d in s.shape):
            for s in inputs:
                if any(d < 0 for d in s.shape[1:]):
                    raise ModelError("%s: input %s has a dynamic size %s; export the model with a fixed height and "
                                     "width" % (os.path.basename(onnx_path), s.name, list(s.shape)))
            n_profiles = profile_count(trt, contexts)
            for k in range(n_profiles):  # identical profiles: one per execution context in use
                p = builder.create_optimization_profile()
                for s in inputs:
                    rest = tuple(s.shape[1:])
                    p.set_shape(s.name, (1,) + rest, (batch,) + rest, (batch,) + rest)
                if config.add_optimization_profile(p) < 0:
                    raise EngineError("TensorRT refused optimization profile %d: %s" % (
                        k, error_summary(lg, "add_optimization_profile returned -1")))
                if profile is None:
                    profile = p
            if profile_sharing(trt) == "preview":
                config.set_preview_feature(trt.PreviewFeature.PROFILE_SHARING_0806, True)
        flags = []
        if precision in ("fp16", "int8") and (precision == "fp16" or fast_fp16(builder, runtime.compute_capability)):
            config.set_flag(trt.BuilderFlag.FP16)
            flags.append("FP16")
        calibrator = None
        if precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)
            flags.append("INT8")
            from .trt_calibrator import calibrator_class
            adapter = calibration_adapter(model_path or onnx_path, inputs, outputs, arch)
            fixed = inputs[0].fixed_batch
            calibrator = calibrator_class(trt)(runtime, adapter, calib_images or [], fixed or batch, calib_cache)
            config.int8_calibrator = calibrator
            if profile is not None and hasattr(config, "set_calibration_profile"):
                config.set_calibration_profile(profile)
        t0 = time.time()
        try:
            plan = builder.build_serialized_network(network, config)
        finally:
            if calibrator is not None:
                calibrator.free()
        if plan is None:
            raise EngineError("TensorRT could not build %s (%s): %s" % (
                os.path.basename(onnx_path), precision, error_summary(lg, "build_serialized_network returned None")))
        data = bytes(plan)
        del parser
    info = {"inputs": [s.name for s in inputs], "outputs": [s.name for s in outputs], "flags": flags,
            "profiles": n_profiles,
            "workspace_api": ws_api or "default", "build_seconds": round(time.time() - t0, 2),
            "calibration_batches": getattr(calibrator, "batches", None)}
    return data, info


def dynamic_batch_file(onnx_path):
    # type: (str) -> str
    """A copy of a fixed-batch-1 ONNX file with a dynamic batch axis (cached), or None where the graph cannot be
    rewritten safely or the onnx package is missing (the engine then runs one frame per call)."""
    try:
        import onnx
    except ImportError:
        return None
    from .onnx_batch import dynamic_batch_model
    out = os.path.join(default_cache_dir(), "onnx", "%s-dynbatch-%s.onnx" % (
        os.path.splitext(os.path.basename(onnx_path))[0], file_sha256(onnx_path)[:16]))
    if os.path.isfile(out):
        return out
    model, ok = dynamic_batch_model(onnx.load(onnx_path))
    if not ok:
        logger.info("{}: the batch axis cannot be made dynamic; frames run one per call",
                    os.path.basename(onnx_path))
        return None
    if not os.path.isdir(os.path.dirname(out)):
        os.makedirs(os.path.dirname(out))
    tmp = "%s.tmp%d" % (out, os.getpid())
    onnx.save(model, tmp)
    os.replace(tmp, out)
    return out


def _calib_id(images):
    # type: (list) -> str
    if not images:
        return None
    h = hashlib.sha256()
    for p in images:
        h.update(os.path.abspath(p).encode("utf-8"))
        h.update(str(os.path.getsize(p)).encode("ascii"))
    return h.hexdigest()[:16]


def obtain_plan(model_path, precision="fp32", batch=1, workspace_mb=None, calib=None, calib_limit=200, arch=None,
                cache_dir=None, runtime=None, plugin_libs=(), force=False, contexts=1):
    """The plan for an ONNX file: from the cache when its sidecar matches, else built now and cached; a dynamic-batch
    plan runs in `contexts` execution contexts at once (their optimization profiles are part of the cache key).

    Returns (plan bytes, plan path, sidecar dict)."""
    from .plan_cache import plan_key
    from .trt_calibrator import calibration_images
    trt = import_tensorrt()
    lg = trt_logger(trt)
    runtime = runtime or CudaRuntime.get(0)
    with runtime.activate():
        load_plugins(trt, lg, plugin_libs)
    src = cleaned_model_path(model_path)
    shape = graph_input_shape(src, trt, lg, runtime)
    if len(shape) < 1:
        raise ModelError("%s: the input has no batch axis" % model_path)
    batch = max(1, int(batch))
    if shape[0] == 1 and batch > 1:
        dyn = dynamic_batch_file(src)
        if dyn is not None:
            src, shape = dyn, (-1,) + tuple(shape[1:])
    if shape[0] > 0 and shape[0] != batch:
        logger.info("{} has a fixed batch of {}: building batch {} (larger batches run as several calls)",
                    os.path.basename(model_path), shape[0], shape[0])
    eff_batch = shape[0] if shape[0] > 0 else batch
    profiles = profile_count(trt, contexts) if shape[0] <= 0 else 1
    key = plan_key(file_sha256(src), version(trt), runtime.device_name, runtime.compute_capability, precision,
                   eff_batch, (eff_batch,) + tuple(shape[1:]), profiles)
    cache = PlanCache(cache_dir or os.path.join(default_cache_dir(), "tensorrt"))
    path = cache.path_for(model_path, key)
    images = calibration_images(calib, calib_limit) if (calib is not None and precision == "int8") else None
    calib_id = _calib_id(images)
    if not force:
        data = cache.load(path, key)
        if data is not None:
            side = read_sidecar(path)
            if calib_id is None or side.get("calibration") == calib_id:
                logger.debug("TensorRT plan from cache: {}", path)
                side["from_cache"] = True
                return data, path, side
            logger.info("calibration images changed: rebuilding the INT8 plan")
    calib_cache = path + CALIB_SUFFIX
    if precision == "int8":
        if calib_id is not None and os.path.isfile(calib_cache):
            old = read_sidecar(path) or {}
            if old.get("calibration") != calib_id:
                os.remove(calib_cache)
        if images is None and not os.path.isfile(calib_cache):
            raise EngineError("an INT8 engine needs calibration images: trafficpipe build-engine %s --precision int8 "
                              "--calib IMAGE_DIR_OR_DATASET" % model_path)
    logger.info("building a TensorRT {} engine for {} (TensorRT {} on {}); first use only: this takes minutes on a "
                "Jetson", precision, os.path.basename(model_path), version(trt), runtime.device_name)
    data, info = build_plan(trt, lg, runtime, src, precision, eff_batch, workspace_mb, images, calib_cache, arch,
                            model_path, contexts)
    extra = {"model": os.path.abspath(model_path), "onnx_built": os.path.abspath(src), "outputs": info["outputs"],
             "inputs": info["inputs"], "flags": info["flags"], "workspace_api": info["workspace_api"],
             "build_seconds": info["build_seconds"], "calibration": calib_id if precision == "int8" else None,
             "calibration_batches": info["calibration_batches"]}
    cache.store(path, data, key, extra)
    logger.info("TensorRT engine built in {:.1f} s", info["build_seconds"])
    side = read_sidecar(path)
    side["from_cache"] = False
    return data, path, side
