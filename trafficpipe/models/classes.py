"""The traffic classes and the map from COCO's 80 classes onto them."""
from ..errors import TrafficpipeError

#: Every class trafficpipe can report; a detection's class id indexes this tuple.
TRAFFIC_CLASSES = ("vehicle", "pedestrian", "bicycle", "road_sign", "traffic_light")
DEFAULT_CLASSES = TRAFFIC_CLASSES

COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)

#: COCO class name -> traffic class name.
COCO_TO_TRAFFIC = {
    "person": "pedestrian",
    "car": "vehicle", "bus": "vehicle", "truck": "vehicle",
    "bicycle": "bicycle", "motorcycle": "bicycle",
    "stop sign": "road_sign",
    "traffic light": "traffic_light",
}


def parse_classes(spec):
    # type: (object) -> tuple
    """Turn `--classes` ("vehicle,pedestrian" or a list; None = all) into a tuple of traffic class names."""
    if spec is None or spec == "" or spec == "all":
        return DEFAULT_CLASSES
    parts = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    names = [s for s in parts if s]
    if not names:
        raise TrafficpipeError("--classes names no class; choose from %s (or all)" % ", ".join(TRAFFIC_CLASSES))
    if len(names) < len(parts):
        raise TrafficpipeError("--classes %r has an empty entry (two commas, or one at an end)" % (spec,))
    unknown = [n for n in names if n not in TRAFFIC_CLASSES]
    if unknown:
        raise TrafficpipeError("unknown class name %s; choose from %s" % (
            ", ".join(repr(u) for u in unknown), ", ".join(TRAFFIC_CLASSES)))
    return tuple(n for n in TRAFFIC_CLASSES if n in names)


class ClassMap(object):
    """Maps a model's own class columns onto traffic class ids.

    `columns[k]` lists the model's class columns that feed traffic class `class_ids[k]`; a traffic class's score is the
    maximum over its columns.
    """

    def __init__(self, model_classes, enabled, mapping=None):
        # type: (tuple, tuple, dict) -> None
        mapping = COCO_TO_TRAFFIC if mapping is None else mapping
        self.class_ids = []
        self.columns = []
        for name in enabled:
            cols = [i for i, c in enumerate(model_classes) if mapping.get(c, c if c in TRAFFIC_CLASSES else None) == name]
            if cols:
                self.class_ids.append(TRAFFIC_CLASSES.index(name))
                self.columns.append(cols)
        self.flat_columns = [c for cols in self.columns for c in cols]
        # group start offsets into the flat column list, for np.maximum.reduceat
        self.group_starts = []
        pos = 0
        for cols in self.columns:
            self.group_starts.append(pos)
            pos += len(cols)
        self.identity = all(len(c) == 1 for c in self.columns)
