"""Importing the optional torch dependencies (torch, onnx2torch) of the torch engine and of training, with one clear
error when they are missing."""
import sys
import types
import warnings

from .errors import EngineError

INSTALL_HINT = "pip install torch==2.13.0 && pip install --no-deps onnx2torch"


class MissingDependency(EngineError):
    """torch or onnx2torch is not installed."""


def require_torch():
    """The torch module; MissingDependency when it is not installed."""
    try:
        import torch
    except ImportError:
        raise MissingDependency("torch is not installed: %s" % INSTALL_HINT)
    return torch


def _stub_torchvision():
    """onnx2torch imports torchvision at module load only for its NMS and RoiAlign converters, which PicoDet and
    YOLOX graphs never use. Where torchvision is missing or broken (PyPI's torchvision beside a local torch build
    fails with 'operator torchvision::nms does not exist'), put a stub in its place that fails only if called."""
    for name in list(sys.modules):
        if name == "torchvision" or name.startswith("torchvision."):
            del sys.modules[name]

    def missing(*args, **kwargs):
        raise MissingDependency("this model needs torchvision (NMS/RoiAlign nodes), which is not usable here")

    tv = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")
    ops.nms = ops.box_convert = ops.roi_align = missing
    tv.ops = ops
    tv.__trafficpipe_stub__ = True
    sys.modules["torchvision"] = tv
    sys.modules["torchvision.ops"] = ops


def import_onnx2torch():
    """The onnx2torch module (torch required); works without a usable torchvision (see _stub_torchvision).

    Its converters' UserWarnings (torch's indexing deprecation in Slice, nearest-mode notes in Resize) are silenced:
    they say nothing a user can act on, and the converted models are checked against ONNX Runtime (tests/gpu)."""
    require_torch()
    warnings.filterwarnings("ignore", category=UserWarning, module=r"onnx2torch(\.|$)")
    try:
        import onnx2torch
        return onnx2torch
    except ImportError as e:
        if e.name and not e.name.startswith("torchvision"):
            raise MissingDependency("onnx2torch is not installed: %s" % INSTALL_HINT)
    except RuntimeError:  # torchvision present but its C++ operators do not match torch
        pass
    real = sys.modules.get("torchvision")
    _stub_torchvision()
    for name in list(sys.modules):
        if name == "onnx2torch" or name.startswith("onnx2torch."):
            del sys.modules[name]
    try:
        import onnx2torch
    except ImportError:
        if real is not None:
            sys.modules["torchvision"] = real
        raise MissingDependency("onnx2torch is not installed: %s" % INSTALL_HINT)
    return onnx2torch
