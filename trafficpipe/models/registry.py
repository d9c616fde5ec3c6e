"""Finding model files and choosing the adapter for a model."""
import os

from ..errors import ModelError
from ..paths import model_dirs
from .picodet import PicoDetAdapter
from .yolox import YoloxAdapter

#: family name -> adapter class. Other families register here (e.g. "ssd-nms").
ADAPTERS = {
    "picodet": PicoDetAdapter,
    "yolox": YoloxAdapter,
}

DEFAULT_MODEL = "trafficpipe_picodet_s_416.onnx"  # fine-tuned on traffic-train; beats the COCO mapping on traffic-dev

#: Short names accepted by --model.
ALIASES = {
    "picodet-s-416": "picodet_s_416_coco.onnx",
    "picodet-s-320": "picodet_s_320_coco.onnx",
    "yolox-nano": "yolox_nano_416.onnx",
    "trafficpipe-picodet-s-416": "trafficpipe_picodet_s_416.onnx",  # fine-tuned on traffic-train (models/weights)
}


def register_adapter(family, cls):
    """Make an adapter class selectable by `family` (``--arch``)."""
    ADAPTERS[family] = cls


def find_model(name=None):
    # type: (str) -> str
    """Resolve `--model` (a path, a file name or an alias; None = default) to an existing file path. A path may be
    given as text or as a path object (pathlib.Path, any os.PathLike)."""
    if name is not None and not isinstance(name, str):
        try:
            name = os.fsdecode(os.fspath(name))  # pathlib.Path, any os.PathLike, bytes (os.fspath: Python 3.6+)
        except TypeError:
            raise ModelError("model must be a path, a model file name or a model name, got %s"
                             % type(name).__name__)
    name = name or DEFAULT_MODEL
    if os.path.isdir(name):
        raise ModelError("--model %s is a folder; give the model file in it (an .onnx file), or a model name" % name)
    if os.path.sep in name or os.path.exists(name):
        if os.path.isfile(name):
            return os.path.abspath(name)
        raise ModelError("model file %s does not exist" % name)
    fname = ALIASES.get(name, name)
    candidates = [fname] if os.path.splitext(fname)[1] else [fname + ".onnx", fname]
    dirs = model_dirs()
    for d in dirs:
        for c in candidates:
            p = os.path.join(d, c)
            if os.path.isfile(p):
                return p
    raise ModelError("model %r not found in %s; pass --model PATH, or set TRAFFICPIPE_MODELS (or TRAFFICPIPE_DATA) to a "
                     "folder holding it (the shared models live in $TRAFFICPIPE_DATA/models)" % (name, ", ".join(dirs)))


def guess_family(path, output_specs):
    # type: (str, list) -> str
    """The adapter family of a model, from its file name, else from its output shapes."""
    base = os.path.basename(path).lower()
    for fam in sorted(ADAPTERS, key=len, reverse=True):
        if fam.replace("-", "_") in base.replace("-", "_"):
            return fam
    shapes = [tuple(o.shape) for o in output_specs]
    if len(shapes) == 8 and all(len(s) == 3 for s in shapes) and all(s[-1] == 32 for s in shapes[4:]):
        return "picodet"
    if len(shapes) == 1 and len(shapes[0]) == 3 and isinstance(shapes[0][-1], int) and shapes[0][-1] > 5:
        return "yolox"  # [1, cells, 4 box + objectness + K classes]: 85 for COCO, 10 for our own 5 classes
    names = [o.name for o in output_specs]
    if "NMS" in names and "ssd-nms" in ADAPTERS:
        return "ssd-nms"
    raise ModelError("cannot tell which detector family %s is (outputs %s); pass --arch %s"
                     % (os.path.basename(path), shapes, "|".join(sorted(ADAPTERS))))


def create_adapter(family, input_specs, output_specs, **options):
    """Instantiate the adapter of `family` for an engine's tensor specs (options: classes, conf, iou, max_det,
    model_classes, ...)."""
    try:
        cls = ADAPTERS[family]
    except KeyError:
        raise ModelError("unknown model family %r; choose from %s" % (family, ", ".join(sorted(ADAPTERS))))
    return cls(input_specs, output_specs, **options)


from .ssd_nms import SsdNmsAdapter  # noqa: E402  (TLT/TAO SSD engines with the NMS plugin)

register_adapter("ssd-nms", SsdNmsAdapter)
