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


def _varint(data, pos):
    # type: (bytes, int) -> tuple
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data):
    """(field number, wire type, value) of each field of one protobuf message: an int for varints, bytes for
    length-delimited fields; fixed-width fields as bytes. ValueError where the bytes are no message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ValueError("field %d runs past the end" % number)
            value, pos = data[pos:pos + size], pos + size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, pos = data[pos:pos + size], pos + size
        else:
            raise ValueError("wire type %d" % wire)
        yield number, wire, value


#: ModelProto.metadata_props (onnx.proto: `repeated StringStringEntryProto metadata_props = 14`; key = 1, value = 2)
_METADATA_PROPS_FIELD = 14


def metadata_props(model_path):
    # type: (str) -> dict
    """The ONNX file's metadata_props as {key: value}, read from the protobuf's top-level fields without the onnx
    package (whose import alone takes over a second of every start); None where the file is no ONNX model."""
    try:
        with open(model_path, "rb") as f:
            data = f.read()
        props = {}
        for number, wire, value in _fields(data):
            if number == _METADATA_PROPS_FIELD and wire == 2:
                entry = dict((n, v) for n, w, v in _fields(value) if w == 2)
                props[entry.get(1, b"").decode("utf-8")] = entry.get(2, b"").decode("utf-8")
        return props
    except (OSError, ValueError, UnicodeDecodeError):
        return None  # the engine reports an unreadable model in its own words


def _metadata_classes(model_path):
    props = metadata_props(model_path) or {}
    if METADATA_CLASSES_KEY not in props:
        return None
    try:
        names = json.loads(props[METADATA_CLASSES_KEY])
    except ValueError:
        raise ModelError("%s: metadata %s is not a JSON list" % (model_path, METADATA_CLASSES_KEY))
    return _check_names(names, "%s metadata %s" % (model_path, METADATA_CLASSES_KEY))


def model_classes(model_path):
    # type: (str) -> tuple
    """The model's own class names (output column order), or None when the model does not say (COCO models).

    Looks at the model card `<model>.json` first, then at the ONNX metadata.
    """
    card = read_card(model_path)
    if card is not None and "classes" in card:
        return _check_names(card["classes"], card_path(model_path))
    if model_path.lower().endswith(".onnx"):
        return _metadata_classes(model_path)
    return None
