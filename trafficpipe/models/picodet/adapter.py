"""PP-PicoDet-S (PaddleDetection export): RGB, plain resize, mean/std, 4 score maps + 4 DFL box maps.

The score maps have one column per model class: 80 for the COCO exports, 5 (TRAFFIC_CLASSES) for models trained by
`trafficpipe train`, whose class names come from their model card (see model_card.py).
"""
import cv2
import numpy as np

from ...errors import ModelError
from ..base import ModelAdapter, grid_centers

_MEAN = np.array([123.675, 116.28, 103.53], np.float32)
_INV_STD = 1.0 / np.array([58.395, 57.12, 57.375], np.float32)
_STRIDES = (8, 16, 32, 64)
_BINS = 8


class PicoDetAdapter(ModelAdapter):
    """Decodes PicoDet's outputs: for stride s, centre ((col+.5)s, (row+.5)s), per side softmax over 8 bins, Σ i·p_i·s."""

    family = "picodet"

    def check_outputs(self):
        shapes = [tuple(o.shape) for o in self.output_specs]
        if len(shapes) != 8:
            raise ModelError("a PicoDet model has 8 outputs (4 score maps, 4 box maps); this one has %d" % len(shapes))
        self._levels = []
        for i, s in enumerate(_STRIDES):
            cx, cy = grid_centers(self.height, self.width, s, 0.5)
            n = cx.shape[0]
            score_shape, box_shape = shapes[i], shapes[4 + i]
            k = len(self.model_classes)
            if score_shape[-2:] != (n, k) or box_shape[-2:] != (n, 4 * _BINS):
                raise ModelError("PicoDet output %d has shape %s/%s, expected [1,%d,%d]/[1,%d,32] for a %dx%d input "
                                 "and %d classes" % (i, list(score_shape), list(box_shape), n, k, n, self.width,
                                                     self.height, k))
            self._levels.append((cx * s, cy * s, float(s)))
        self._bins = np.arange(_BINS, dtype=np.float32)

    def preprocess(self, image, out):
        h, w = image.shape[:2]
        resized = cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        for c in range(3):  # BGR source -> RGB planes, normalised in place
            np.subtract(resized[:, :, 2 - c], _MEAN[c], out=out[c], casting="unsafe")
            np.multiply(out[c], _INV_STD[c], out=out[c])
        return (w / float(self.width), h / float(self.height), w, h)

    device_normalization = ("rgb", tuple(float(m) for m in _MEAN), tuple(float(1.0 / v) for v in _INV_STD))

    def preprocess_u8(self, image, out):
        h, w = image.shape[:2]
        r = cv2.resize(image, (self.width, self.height), dst=out, interpolation=cv2.INTER_LINEAR)
        if r is not out:  # OpenCV made its own array (out not a plain uint8 image): copy
            out[...] = r
        return (w / float(self.width), h / float(self.height), w, h)

    def fit_u8(self, width, height):
        # type: (int, int) -> tuple
        """(resized width, resized height, pad value, meta) of `preprocess_u8` for an image of this size."""
        return self.width, self.height, 0, (width / float(self.width), height / float(self.height), width, height)

    def box_scale(self, meta):
        return meta

    @property
    def anchor_count(self):
        return sum(int(cx.shape[0]) for cx, _, _ in self._levels)

    def torch_decoder(self, device):
        from .torch_decode import PicoDetTorchDecode
        return PicoDetTorchDecode(self._levels, self._bins, device)

    def onnx_decode(self, builder, outs, traffic_scores):
        from .onnx_decode import picodet_graph_decode
        return picodet_graph_decode(builder, outs, self._levels, self._bins, traffic_scores)

    def postprocess(self, outputs, meta):
        sx, sy, w, h = meta
        boxes, scores, class_ids = [], [], []
        for i, (cx, cy, s) in enumerate(self._levels):
            sc = outputs[i].reshape(-1, outputs[i].shape[-1])
            rows, best, cls = self.select(sc)
            if rows.size == 0:
                continue
            logits = outputs[4 + i].reshape(-1, 4, _BINS)[rows]
            logits = logits - logits.max(-1, keepdims=True)
            p = np.exp(logits)
            dist = (p @ self._bins) / p.sum(-1) * s  # [k,4] = left, top, right, bottom
            x, y = cx[rows], cy[rows]
            b = np.stack([(x - dist[:, 0]) * sx, (y - dist[:, 1]) * sy, (x + dist[:, 2]) * sx, (y + dist[:, 3]) * sy], 1)
            boxes.append(b)
            scores.append(best)
            class_ids.append(cls)
        if not boxes:
            return self.finish(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0,), np.int32), w, h)
        return self.finish(np.concatenate(boxes).astype(np.float32), np.concatenate(scores), np.concatenate(class_ids), w, h)
