"""Loading ONNX files: validation, and a cleaned copy (onnxslim) cached by content hash.

Some exports (the shared PicoDet among them) list every weight as a graph input and keep biases in Constant nodes,
which blocks ONNX Runtime's constant folding and trips ONNX -> torch converters. onnxslim removes both; where it is
not installed (e.g. Python 3.6 on a Jetson Nano) the graph is used as it is.
"""
import hashlib
import os

from ..errors import ModelError
from ..log import logger
from ..paths import cache_dir


def file_sha256(path):
    # type: (str) -> str
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_model(path):
    # type: (str) -> bytes
    """The bytes of an ONNX file; ModelError if it is missing or plainly not an ONNX protobuf."""
    if not os.path.isfile(path):
        raise ModelError("model file %s does not exist" % path)
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 16 or data[:1] != b"\x08":  # ModelProto starts with field 1 (ir_version), varint
        raise ModelError("%s is not an ONNX model" % path)
    return data


def load_onnx(path):
    """The parsed onnx.ModelProto of `path` (needs the onnx package); ModelError if it does not parse."""
    import onnx
    data = read_model(path)
    try:
        model = onnx.load_from_string(data)
    except Exception as e:
        raise ModelError("%s is not a valid ONNX model (%s)" % (path, str(e).splitlines()[0] if str(e) else type(e).__name__))
    if not model.graph.node:
        raise ModelError("%s is not an ONNX model (no graph)" % path)
    return model


def cleaned_model_path(path):
    # type: (str) -> str
    """A path to a cleaned copy of the ONNX file (cached under TRAFFICPIPE_CACHE/onnx), or `path` itself. A cached
    copy is found without importing onnx or onnxslim (about 2 s of every start)."""
    read_model(path)
    digest = file_sha256(path)[:16]
    out_dir = os.path.join(cache_dir(), "onnx")
    out = os.path.join(out_dir, "%s-%s.onnx" % (os.path.splitext(os.path.basename(path))[0], digest))
    clean = out[:-len(".onnx")] + ".clean"  # written once the file is found to need no cleaning
    if os.path.isfile(out):
        return out
    if os.path.isfile(clean):
        return path
    try:
        import onnx
        import onnxslim
    except ImportError:
        logger.debug("onnxslim not installed: using {} as it is", path)
        return path
    model = load_onnx(path)
    inits = {i.name for i in model.graph.initializer}
    n_const = sum(1 for n in model.graph.node if n.op_type == "Constant")
    n_init_inputs = sum(1 for i in model.graph.input if i.name in inits)
    if not n_const and not n_init_inputs:
        try:
            os.makedirs(out_dir, exist_ok=True)
            open(clean, "w").close()
        except OSError:  # no cache: checked again next time
            pass
        return path
    try:
        slim = onnxslim.slim(model)
    except Exception as e:  # a graph onnxslim cannot handle still runs as it is
        logger.warning("could not clean {} ({}); using it as it is", os.path.basename(path), e)
        return path
    try:
        os.makedirs(out_dir, exist_ok=True)
        tmp = out + ".tmp%d" % os.getpid()
        onnx.save(slim, tmp)
        os.replace(tmp, out)
    except OSError as e:
        logger.warning("cannot cache the cleaned model in {} ({}); using the original", out_dir, e)
        return path
    logger.info("cleaned {}: {} weights removed from the inputs, {} Constant nodes folded (cached {})",
                os.path.basename(path), n_init_inputs, n_const, out)
    return out
