"""What a model file says about itself: its class names, from a model card `<model>.json` beside the ONNX file.

Models trained by `trafficpipe train` ship such a card (and the same names in the ONNX metadata key
``trafficpipe.classes``); the COCO models have none and keep their adapter's COCO class list.
"""
import json
import os

from ..errors import ModelError

#: ONNX metadata_props key holding the class names as a JSON list.
METADATA_CLASSES_KEY = "trafficpipe.classes"


def card_path(model_path):
    # type: (str) -> str
    """The model card (JSON) that belongs to a model file: same path, extension .json."""
    return os.path.splitext(model_path)[0] + ".json"


def read_card(model_path):
    # type: (str) -> dict
    """The parsed model card of `model_path`, or None when there is none. ModelError when it is not valid JSON."""
    path = card_path(model_path)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, "r") as f:
            card = json.load(f)
    except ValueError as e:
        raise ModelError("model card %s is not valid JSON: %s" % (path, str(e).splitlines()[0]))
    if not isinstance(card, dict):
        raise ModelError("model card %s: expected a JSON object" % path)
    return card


def _check_names(names, where):
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise ModelError("%s: \"classes\" must be a non-empty list of class names" % where)
    return tuple(names)


def _metadata_classes(model_path):
    try:
        import onnx
    except ImportError:
        return None
    try:
        model = onnx.load(model_path, load_external_data=False)
    except Exception:
        return None  # the engine reports an unreadable model in its own words
    for prop in model.metadata_props:
        if prop.key == METADATA_CLASSES_KEY:
            try:
                names = json.loads(prop.value)
            except ValueError:
                raise ModelError("%s: metadata %s is not a JSON list" % (model_path, METADATA_CLASSES_KEY))
            return _check_names(names, "%s metadata %s" % (model_path, METADATA_CLASSES_KEY))
    return None


def model_classes(model_path):
    # type: (str) -> tuple
    """The model's own class names (output column order), or None when the model does not say (COCO models).

    Looks at the model card `<model>.json` first, then at the ONNX metadata (where the onnx package is installed).
    """
    card = read_card(model_path)
    if card is not None and "classes" in card:
        return _check_names(card["classes"], card_path(model_path))
    if model_path.lower().endswith(".onnx"):
        return _metadata_classes(model_path)
    return None
