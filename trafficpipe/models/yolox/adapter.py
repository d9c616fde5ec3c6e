"""YOLOX (Megvii export): BGR 0-255, keep-ratio resize to the top-left of a 114 canvas, raw grid outputs [N,85]."""
import cv2
import numpy as np

from ...errors import ModelError
from ..base import ModelAdapter, grid_centers

_STRIDES = (8, 16, 32)
PAD_VALUE = 114.0


class YoloxAdapter(ModelAdapter):
    """cx=(dx+col)s, cy=(dy+row)s, w=e^lw·s, h=e^lh·s, score=obj·cls, boxes divided by the resize ratio."""

    family = "yolox"

    def check_outputs(self):
        if len(self.output_specs) != 1:
            raise ModelError("a YOLOX model has 1 output [1,N,85]; this one has %d" % len(self.output_specs))
        gx, gy, gs = [], [], []
        for s in _STRIDES:
            cx, cy = grid_centers(self.height, self.width, s, 0.0)
            gx.append(cx)
            gy.append(cy)
            gs.append(np.full(cx.shape, s, np.float32))
        self._gx, self._gy, self._gs = np.concatenate(gx), np.concatenate(gy), np.concatenate(gs)
        shape = tuple(self.output_specs[0].shape)
        want = (self._gx.shape[0], 5 + len(self.model_classes))
        if shape[-2:] != want:
            raise ModelError("YOLOX output has shape %s, expected [1,%d,%d] for a %dx%d input"
                             % (list(shape), want[0], want[1], self.width, self.height))

    def _fit(self, image):
        """(ratio, width, height, resized width, resized height) of the keep-ratio resize to the input size."""
        h, w = image.shape[:2]
        r = min(self.height / float(h), self.width / float(w))
        return r, w, h, max(1, int(w * r)), max(1, int(h * r))

    def preprocess(self, image, out):
        r, w, h, nw, nh = self._fit(image)
        resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        out[:, :nh, :nw] = resized.transpose(2, 0, 1)
        out[:, nh:, :] = PAD_VALUE
        out[:, :nh, nw:] = PAD_VALUE
        return (r, w, h)

    device_normalization = ("bgr", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))

    def preprocess_u8(self, image, out):
        r, w, h, nw, nh = self._fit(image)
        top = out[:nh, :nw]
        resized = cv2.resize(image, (nw, nh), dst=top if top.flags.c_contiguous else None,
                             interpolation=cv2.INTER_LINEAR)  # full-width rows: straight into the buffer
        if resized is not top:
            top[...] = resized
        out[nh:] = PAD_VALUE
        out[:nh, nw:] = PAD_VALUE
        return (r, w, h)

    def fit_u8(self, width, height):
        # type: (int, int) -> tuple
        """(resized width, resized height, pad value, meta) of `preprocess_u8` for an image of this size."""
        r = min(self.height / float(height), self.width / float(width))
        return max(1, int(width * r)), max(1, int(height * r)), int(PAD_VALUE), (r, width, height)

    def box_scale(self, meta):
        r, w, h = meta
        return (1.0 / r, 1.0 / r, w, h)

    @property
    def anchor_count(self):
        return int(self._gx.shape[0])

    def torch_decoder(self, device):
        from .torch_decode import YoloxTorchDecode
        return YoloxTorchDecode(self._gx, self._gy, self._gs, device)

    def onnx_decode(self, builder, outs, traffic_scores):
        from .onnx_decode import yolox_graph_decode
        return yolox_graph_decode(builder, outs, self._gx, self._gy, self._gs, len(self.model_classes), traffic_scores)

    def postprocess(self, outputs, meta):
        r, w, h = meta
        o = outputs[0].reshape(-1, outputs[0].shape[-1])
        obj = o[:, 4:5]
        rows, best, cls = self.select(o[:, 5:], scale=obj)
        if rows.size == 0:
            return self.finish(np.zeros((0, 4), np.float32), best, cls, w, h)
        d = o[rows]
        s = self._gs[rows]
        cx = (d[:, 0] + self._gx[rows]) * s
        cy = (d[:, 1] + self._gy[rows]) * s
        bw = np.exp(d[:, 2]) * s * 0.5
        bh = np.exp(d[:, 3]) * s * 0.5
        boxes = np.stack([cx - bw, cy - bh, cx + bw, cy + bh], 1) / r
        return self.finish(boxes.astype(np.float32), best, cls, w, h)
