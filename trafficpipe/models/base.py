"""The model-adapter contract: input spec, preprocess into an engine buffer, decode raw outputs into Detections."""
import argparse

import numpy as np

from ..cli_values import positive_int, unit_interval
from ..errors import ModelError, TrafficpipeError
from .classes import COCO_CLASSES, DEFAULT_CLASSES, ClassMap
from .detections import Detections
from .nms import batched_nms, batched_nms_images


def check_thresholds(conf, iou, max_det):
    # type: (object, object, object) -> tuple
    """(conf, iou, max_det) as float, float, int, checked as the CLI checks --conf and --iou (numbers from 0 to 1,
    cli_values.unit_interval) and as a count (max_det: a whole number of 1 or more); TrafficpipeError (one line)
    naming the argument otherwise."""
    out = []
    for name, value, convert, kind in (("conf", conf, unit_interval, float), ("iou", iou, unit_interval, float),
                                       ("max_det", max_det, positive_int, int)):
        if isinstance(value, bool) or value is None:  # str(True) is no number, but spell the reason out
            raise TrafficpipeError("%s: expected %s, got %r" % (
                name, "a whole number of 1 or more" if kind is int else "a number between 0 and 1", value))
        try:
            convert(value)
        except argparse.ArgumentTypeError as e:
            raise TrafficpipeError("%s: %s" % (name, e))
        out.append(kind(value))  # the value itself (not its text) so that thresholds keep their exact float
    return tuple(out)


class ModelAdapter(object):
    """Knows one detector family: how to fill its input and how to decode its outputs.

    Engines know nothing of adapters; an adapter knows nothing of engines beyond the tensor specs it is given.
    `preprocess(image, out)` writes one BGR uint8 image into `out` (one batch item of the engine's input buffer, no batch
    axis) and returns the small `meta` that `postprocess(outputs, meta)` needs to map boxes back to image pixels.
    `outputs` is the list of the engine's outputs for that one image (engine output order, batch axis removed).
    `model_classes` (default: the family's, COCO for the shipped models) names the model's class columns; names
    that are traffic classes map onto themselves.
    """

    family = ""
    model_classes = COCO_CLASSES  # type: tuple
    layout = "NCHW"

    def __init__(self, input_specs, output_specs, classes=DEFAULT_CLASSES, conf=0.3, iou=0.45, max_det=300,
                 max_candidates=3000, class_mapping=None, model_classes=None):
        if model_classes is not None:  # the model names its own output columns (e.g. a trained traffic model)
            self.model_classes = tuple(model_classes)
        if len(input_specs) != 1:
            raise ModelError("%s models take one input, this one has %d" % (self.family, len(input_specs)))
        self.input = input_specs[0]
        self.output_specs = list(output_specs)
        shape = tuple(self.input.shape)
        if len(shape) != 4 or shape[1] != 3 or not isinstance(shape[2], int) or not isinstance(shape[3], int):
            raise ModelError("unexpected input shape %s for a %s model: expected [N,3,H,W] with fixed H and W"
                             % (list(shape), self.family))
        self.height, self.width = shape[2], shape[3]
        self.conf, self.iou, self.max_det = check_thresholds(conf, iou, max_det)
        self.max_candidates = int(max_candidates)
        self.class_map = ClassMap(self.model_classes, classes, class_mapping)
        self.classes = tuple(classes)
        self._class_ids = np.asarray(self.class_map.class_ids, np.int32)
        self._columns = np.asarray(self.class_map.flat_columns, np.int64)
        self._starts = np.asarray(self.class_map.group_starts, np.int64)
        self.check_outputs()

    # -- contract -------------------------------------------------------------------------------------------------
    @property
    def input_shape(self):
        """(C, H, W) of one image."""
        return tuple(self.input.shape[1:])

    def check_outputs(self):
        """Raise ModelError when the engine's outputs do not fit this family."""

    def preprocess(self, image, out):
        raise NotImplementedError

    def postprocess(self, outputs, meta):
        raise NotImplementedError

    # -- optional: preprocessing and decoding on the engine's device (see models/device_io.py) ---------------------
    #: (channel order "rgb"/"bgr", mean per channel, std per channel) applied to the uint8 image on the device
    device_normalization = None  # type: tuple

    def preprocess_u8(self, image, out):
        """Like `preprocess`, but `out` is a uint8 [H, W, 3] image at the model's input size (resize and padding only;
        channel order, normalisation and the NCHW layout are left to the device). Returns the same meta."""
        raise NotImplementedError

    def fit_u8(self, width, height):
        # type: (int, int) -> tuple
        """(resized width, resized height, pad value, meta) of `preprocess_u8` for an image of `width` x `height`:
        the image is resized to the top-left corner of the input and the rest padded (how GPU-decoded frames are
        preprocessed on the device, `engines/device_frames.py`)."""
        raise NotImplementedError

    def box_scale(self, meta):
        # type: (tuple) -> tuple
        """(sx, sy, width, height): model-input pixels -> image pixels, and the image size, from a preprocess meta."""
        raise NotImplementedError

    @property
    def anchor_count(self):
        # type: () -> int
        """Candidate positions (cells) the model scores per image."""
        raise NotImplementedError

    def torch_decoder(self, device):
        """For the torch engine's device I/O (engines/torch_device_io.py): a callable (raw outputs as float tensors,
        traffic_scores) -> (boxes [B, A, 4] xyxy in model-input pixels, traffic class scores [B, A, K]) on the torch
        `device`, where `traffic_scores` maps model class scores [..., C] to traffic ones [..., K]; None where the
        family has none."""
        return None

    def onnx_decode(self, builder, outs, traffic_scores):
        """The same as ONNX nodes, for the device-I/O graph (engines/onnx_device_io.py): (boxes, traffic scores) value
        names from the raw output names `outs`, nodes added through `builder` (const, op, slice); None where the family
        has none."""
        return None

    def candidates_to_detections(self, candidates, meta):
        # type: (np.ndarray, tuple) -> Detections
        """Detections from device-selected candidates [K, 6] (x1, y1, x2, y2 in model-input pixels, score, traffic
        class id), sorted by score, highest first: keep those over `conf`, scale to the image, clip, NMS."""
        scores = candidates[:, 4]
        n = int(np.count_nonzero(scores >= self.conf))
        if n == 0:
            return Detections()
        sx, sy, w, h = self.box_scale(meta)
        sel = candidates[:n]
        boxes = sel[:, :4] * np.array([sx, sy, sx, sy], np.float32)
        return self.finish(boxes, sel[:, 4].copy(), sel[:, 5].astype(np.int32), w, h)

    def candidates_to_detections_batch(self, candidates, metas):
        # type: (np.ndarray, list) -> list
        """`candidates_to_detections` of n images at once (candidates [n, K, 6], n metas): the same Detections, from
        a few numpy calls per batch instead of a few dozen per image (per-frame Python of the GPU path, which every
        pipeline thread pays for under one GIL). One NMS call over every image, each image's classes a group."""
        n = len(metas)
        counts = np.count_nonzero(candidates[:, :, 4] >= self.conf, axis=1)
        if not counts.any():
            return [Detections() for _ in range(n)]
        sel = candidates[np.arange(candidates.shape[1])[None, :] < counts[:, None]]  # each image's first counts[i]
        image = np.repeat(np.arange(n), counts)
        scale = np.array([self.box_scale(m) for m in metas], np.float32)  # sx, sy, width, height per image
        boxes = sel[:, :4] * scale[:, [0, 1, 0, 1]][image]
        scores, class_ids = sel[:, 4].copy(), sel[:, 5].astype(np.int32)
        np.clip(boxes[:, 0::2], 0, scale[image, 2:3], out=boxes[:, 0::2])
        np.clip(boxes[:, 1::2], 0, scale[image, 3:4], out=boxes[:, 1::2])
        ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        if not ok.all():
            boxes, scores, class_ids, image = boxes[ok], scores[ok], class_ids[ok], image[ok]
        out = []
        for keep in batched_nms_images(boxes, scores, class_ids, image, n, self.iou, self.max_det):
            out.append(Detections(boxes[keep], scores[keep], class_ids[keep]) if len(keep) else Detections())
        return out

    # -- shared helpers -------------------------------------------------------------------------------------------
    def traffic_scores(self, scores):
        # type: (np.ndarray) -> np.ndarray
        """Model class scores [N, C_model] -> traffic class scores [N, K] (max over each class's COCO columns)."""
        sub = scores[:, self._columns]
        if self.class_map.identity:
            return sub
        return np.maximum.reduceat(sub, self._starts, axis=1)

    def select(self, scores, scale=None):
        # type: (np.ndarray, np.ndarray) -> tuple
        """Every (candidate, traffic class) pair scoring at least `conf`: (row indices, scores, class ids), at most
        max_candidates (the best). Multi-label, as PaddleDetection's multiclass NMS: a cell may give a cyclist both a
        bicycle and a pedestrian box, where keeping only its best class would drop one of them (measured on
        traffic-dev: bicycle AP50 0.21 -> 0.32 for PicoDet-S 416, 0.30 -> 0.53 for the trained model).

        `scale` [N,1] (e.g. YOLOX objectness) multiplies the traffic scores after the column selection.
        """
        ts = self.traffic_scores(scores)
        if scale is not None:
            ts = ts * scale
        if ts.shape[1] == 0:
            return np.zeros((0,), np.int64), np.zeros((0,), np.float32), np.zeros((0,), np.int32)
        rows, ks = np.nonzero(ts >= self.conf)
        best = ts[rows, ks]
        if rows.size > self.max_candidates:
            top = np.argpartition(-best, self.max_candidates)[:self.max_candidates]
            rows, ks, best = rows[top], ks[top], best[top]
        return rows, best.astype(np.float32), self._class_ids[ks]

    def finish(self, boxes, scores, class_ids, width, height):
        # type: (np.ndarray, np.ndarray, np.ndarray, int, int) -> Detections
        """Clip to the image, drop empty boxes, run per-class NMS."""
        if scores.shape[0] == 0:
            return Detections()
        np.clip(boxes[:, 0::2], 0, width, out=boxes[:, 0::2])
        np.clip(boxes[:, 1::2], 0, height, out=boxes[:, 1::2])
        ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        if not ok.all():
            boxes, scores, class_ids = boxes[ok], scores[ok], class_ids[ok]
        keep = batched_nms(boxes, scores, class_ids, self.iou, self.max_det)
        return Detections(boxes[keep].astype(np.float32), scores[keep], class_ids[keep])


def grid_centers(height, width, stride, offset):
    # type: (int, int, int, float) -> tuple
    """Row-major cell coordinates of one feature level: (col + offset, row + offset) as two flat float32 arrays."""
    rows, cols = -(-height // stride), -(-width // stride)
    yy, xx = np.meshgrid(np.arange(rows, dtype=np.float32), np.arange(cols, dtype=np.float32), indexing="ij")
    return (xx.reshape(-1) + offset), (yy.reshape(-1) + offset)
