"""TLT/TAO SSD engines (e.g. an SSD-ResNet18 3x384x1248 plan from tlt-converter): NMS plugin outputs.

Preprocessing, as TAO's own SSD inference does it (nvidia_tao_tf1 cv/ssd/scripts/inference.py with
common/inferencer/inferencer.py; DeepStream's pgie_ssd_tao_config: net-scale-factor=1.0,
offsets=103.939;116.779;123.68, model-color-format=1): plain resize to the input size (keep_aspect_ratio=False),
BGR channel order, 0-255 values minus the per-channel mean (B 103.939, G 116.779, R 123.68), no scaling.

Outputs, from the `NMS_TRT` plugin: "NMS" holds keepTopK rows of 7 values `[image_id, label, confidence, x1, y1, x2,
y2]` with box corners normalised to 0..1, and "NMS_1" the number of valid rows (int32); rows past it are padding
(deepstream_tao_apps post_processor/nvdsinfer_custombboxparser_tao.cpp, NvDsInferParseCustomNMSTLT).

Labels: TAO numbers the classes from 1 in the *sorted* order of the spec's target classes, 0 being the background
(`classes = sorted(target_class_mapping.values())`, `dict(zip(range(1, len(classes)+1), classes))`). The default here
is the KITTI SSD example of TLT/TAO (target classes car, cyclist, pedestrian): 0 background, 1 car, 2 cyclist,
3 pedestrian. A model trained on other classes names them in a model card beside the engine, `<engine>.json`:
`{"classes": ["background", "car", "cyclist", "pedestrian"]}` (index = NMS label).
"""
import cv2
import numpy as np

from ...errors import ModelError
from ..base import ModelAdapter

SSD_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)

#: TLT/TAO KITTI SSD example, by NMS label id.
TAO_KITTI_LABELS = ("background", "car", "cyclist", "pedestrian")

#: TLT / TAO class names -> traffic classes (names that are traffic classes map onto themselves).
SSD_TO_TRAFFIC = {
    "car": "vehicle", "van": "vehicle", "truck": "vehicle", "bus": "vehicle", "tram": "vehicle",
    "motorbike": "bicycle", "motorcycle": "bicycle",
    "cyclist": "bicycle", "bicycle": "bicycle",
    "pedestrian": "pedestrian", "person": "pedestrian", "person_sitting": "pedestrian",
    "road_sign": "road_sign", "stop sign": "road_sign", "traffic_sign": "road_sign",
    "traffic_light": "traffic_light", "traffic light": "traffic_light",
}


class SsdNmsAdapter(ModelAdapter):
    """TAO SSD with the NMS plugin: BGR mean-subtracted input, `[image_id, label, conf, x1, y1, x2, y2]` rows."""

    family = "ssd-nms"
    model_classes = TAO_KITTI_LABELS

    def __init__(self, input_specs, output_specs, class_mapping=None, **options):
        super(SsdNmsAdapter, self).__init__(input_specs, output_specs,
                                            class_mapping=SSD_TO_TRAFFIC if class_mapping is None else class_mapping,
                                            **options)
        # model label id -> traffic class id (-1: not reported)
        lut = np.full(len(self.model_classes), -1, np.int32)
        for cid, cols in zip(self.class_map.class_ids, self.class_map.columns):
            lut[cols] = cid
        lut[0] = -1  # background
        self._label_to_class = lut

    def check_outputs(self):
        specs = self.output_specs
        nms = [i for i, s in enumerate(specs) if s.name == "NMS"] or \
              [i for i, s in enumerate(specs) if s.shape and s.shape[-1] == 7]
        keep = [i for i, s in enumerate(specs) if s.name in ("NMS_1", "keep_count")] or \
               [i for i, s in enumerate(specs) if i not in nms[:1] and int(np.prod([d for d in s.shape[1:]
                                                                                   if d > 0] or [1])) == 1]
        if not nms or not keep:
            raise ModelError("an SSD-NMS model has an output of 7 values per detection (NMS) and a keep count "
                             "(NMS_1); this one has %s" % ", ".join("%s %s" % (s.name, list(s.shape)) for s in specs))
        self._nms, self._keep = nms[0], keep[0]
        rows = int(np.prod([d for d in specs[self._nms].shape[1:] if d > 0]))
        self.keep_top_k = rows // 7

    def preprocess(self, image, out):
        h, w = image.shape[:2]
        resized = cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        for c in range(3):  # BGR planes, minus the BGR means
            np.subtract(resized[:, :, c], SSD_MEAN_BGR[c], out=out[c], casting="unsafe")
        return (w, h)

    def postprocess(self, outputs, meta):
        w, h = meta
        det = np.asarray(outputs[self._nms], np.float32).reshape(-1, 7)
        keep = int(np.asarray(outputs[self._keep]).reshape(-1)[0])
        det = det[:max(0, min(keep, det.shape[0]))]
        labels = det[:, 1].astype(np.int64)
        ok = (labels >= 0) & (labels < self._label_to_class.shape[0]) & (det[:, 2] >= self.conf)
        det, labels = det[ok], labels[ok]
        class_ids = self._label_to_class[labels]
        wanted = class_ids >= 0
        det, class_ids = det[wanted], class_ids[wanted]
        boxes = det[:, 3:7] * np.array([w, h, w, h], np.float32)
        return self.finish(boxes.astype(np.float32), det[:, 2].copy(), class_ids.astype(np.int32), w, h)
