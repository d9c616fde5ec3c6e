"""An adapter view for engines that preprocess and select candidates on their device (the torch engine's device I/O).

The engine's input becomes the uint8 image at the model's size, [N, H, W, 3] as OpenCV lays it out (the CPU only
resizes and pads, one OpenCV call, into the pinned buffer; channel order, normalisation and NCHW happen on the GPU),
and its one output becomes the best `top_k` (cell, traffic class) pairs per image, [N, K, 6] = x1, y1, x2, y2
(model-input pixels), score, traffic class id, sorted by score (box decoding, the COCO -> traffic class mapping and the
ranking happen on the GPU). The CPU keeps the threshold, the scaling to image pixels and the NMS. Per frame that is a handful of short
numpy calls instead of dozens over the full output maps, and 4x fewer bytes to copy to the device.
"""
import numpy as np

from ..engines.base import TensorSpec
from ..log import logger

INPUT_NAME = "image_u8"
OUTPUT_NAME = "candidates"
CANDIDATE_FIELDS = 6


def supports_device_io(adapter):
    # type: (object) -> bool
    """True when the adapter can split its work this way (PicoDet and YOLOX; not SSD-NMS engines)."""
    return (getattr(adapter, "device_normalization", None) is not None and len(adapter.class_map.flat_columns) > 0)


class DeviceIOAdapter(object):
    """Wraps a ModelAdapter: `input`/`output_specs` are the device-I/O tensors, `preprocess` fills the uint8 image,
    `postprocess` turns the candidates into Detections. Everything else (conf, iou, classes, ...) is the wrapped
    adapter's. `top_k` candidates per image; `pairs` the (cell, class) pairs the model scores (to tell a full list);
    `input_dtype` uint8, or float32 holding 0..255 for engines without uint8 inputs (TensorRT before 8.6)."""

    def __init__(self, inner, top_k, pairs, input_dtype=np.uint8):
        self.inner = inner
        self.top_k = int(top_k)
        self.pairs = int(pairs)
        h, w = inner.height, inner.width
        self.input = TensorSpec(INPUT_NAME, (inner.input.shape[0], h, w, 3), input_dtype)
        self.output_specs = [TensorSpec(OUTPUT_NAME, (inner.input.shape[0], self.top_k, CANDIDATE_FIELDS), np.float32)]
        self.saturated = 0  # images whose every candidate passed the threshold (more may have been cut at top_k)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    @property
    def input_shape(self):
        return tuple(self.input.shape[1:])

    def preprocess(self, image, out):
        return self.inner.preprocess_u8(image, out)

    def postprocess(self, outputs, meta):
        cands = outputs[0]
        if self.top_k < self.pairs and cands[-1, 4] >= self.inner.conf:
            self._saturated(1)
        return self.inner.candidates_to_detections(cands, meta)

    def postprocess_batch(self, outputs, metas):
        # type: (list, list) -> list
        """`postprocess` of n images at once: `outputs` [n, K, 6] (the slot's first n images) -> n Detections."""
        cands = outputs[0]
        if self.top_k < self.pairs:
            full = int(np.count_nonzero(cands[:, -1, 4] >= self.inner.conf))
            if full:
                self._saturated(full)
        return self.inner.candidates_to_detections_batch(cands, metas)

    def _saturated(self, n):
        self.saturated += n
        if self.saturated == n:
            logger.warning("an image has over {} candidates above conf {}: the lowest may be cut before NMS "
                           "(raise max_candidates or conf)", self.top_k, self.inner.conf)
