"""Tiled inference for frames much wider (or taller) than the model's input: sliced prediction plus the whole frame.

A square detector squashes a 1242x375 KITTI frame (a TLT SSD's 1248x384 input) 3.3 times along x before it sees it: a
pedestrian becomes a sliver. With tiling on, such a frame goes through the model as the whole frame plus overlapping
tiles of the model's aspect ratio, each at nearly its own scale; the detections are moved back into the frame, those
that an inner tile edge cuts are dropped (a neighbouring tile, or the whole frame, sees them whole) and one per-class
NMS merges the rest (as SAHI's "standard + sliced prediction"). Frames within `min_ratio` of the model's aspect ratio
are left whole, so 16:9 video at the default 2.0 costs nothing more.

Measured with the default model on traffic-dev (VOC AP50; 51 KITTI frames tiled, 5 tiles each at overlap 0.35):
pedestrian 0.590 -> 0.881, vehicle 0.938 -> 0.951; the other classes' images are not wide and keep their figures.
Overlap 0.35 was the best of 0.2-0.5 there (0.2: 0.798, 0.3: 0.873, 0.4: 0.874, 0.5: 0.828; docs/perception.md).
"""
import math

import numpy as np

from .detections import Detections
from .nms import batched_nms

EDGE_MARGIN = 2.0  # pixels: a box within this of an inner tile edge counts as cut by it


class TilePlan(object):
    """How to tile: frames whose aspect ratio is at least `min_ratio` times the model's (or at most 1/min_ratio) are
    cut along their long side into tiles of the model's aspect ratio overlapping by `overlap` (a fraction of a tile),
    at most `max_tiles`, and also run whole."""

    def __init__(self, min_ratio=2.0, overlap=0.35, max_tiles=8):
        if min_ratio <= 1.0:
            raise ValueError("the tiling ratio must be above 1 (got %g)" % min_ratio)
        if not 0.0 <= overlap < 0.9:
            raise ValueError("the tile overlap must be in [0, 0.9) (got %g)" % overlap)
        self.min_ratio = float(min_ratio)
        self.overlap = float(overlap)
        self.max_tiles = max(2, int(max_tiles))

    @property
    def max_items(self):
        # type: () -> int
        """Model inputs one frame may need (tiles + the whole frame)."""
        return self.max_tiles + 1

    def crops(self, width, height, model_width, model_height):
        # type: (int, int, int, int) -> list
        """[(x0, y0, x1, y1), ...]: the whole frame first, then the tiles (none for a frame of a near-model shape)."""
        whole = [(0, 0, int(width), int(height))]
        ratio = (width / float(height)) / (model_width / float(model_height))
        if self.min_ratio > ratio > 1.0 / self.min_ratio:
            return whole
        wide = ratio > 1.0
        long_side, short_side = (width, height) if wide else (height, width)
        tile_aspect = (model_width / float(model_height)) if wide else (model_height / float(model_width))
        span = short_side * tile_aspect  # a tile's length along the long side, at the model's aspect ratio
        k = int(math.ceil((long_side / span - self.overlap) / (1.0 - self.overlap)))
        k = max(2, min(self.max_tiles, k))
        length = int(math.ceil(long_side / (k - (k - 1) * self.overlap)))
        step = (long_side - length) / float(k - 1)
        out = list(whole)
        for j in range(k):
            a = int(round(j * step))
            b = min(long_side, a + length)
            out.append((a, 0, b, int(height)) if wide else (0, a, int(width), b))
        return out

    def describe(self):
        # type: () -> dict
        return {"min_ratio": self.min_ratio, "overlap": self.overlap, "max_tiles": self.max_tiles}


def merge_tiles(parts, crops, width, height, iou, max_det=300):
    # type: (list, list, int, int, float, int) -> Detections
    """One frame's Detections from those of its crops (`parts[i]` found in `crops[i]`, boxes in crop pixels)."""
    boxes, scores, classes = [], [], []
    for d, (x0, y0, x1, y1) in zip(parts, crops):
        if len(d) == 0:
            continue
        b = d.boxes + np.array([x0, y0, x0, y0], np.float32)
        keep = np.ones(len(d), bool)
        if x0 > 0:
            keep &= b[:, 0] > x0 + EDGE_MARGIN
        if x1 < width:
            keep &= b[:, 2] < x1 - EDGE_MARGIN
        if y0 > 0:
            keep &= b[:, 1] > y0 + EDGE_MARGIN
        if y1 < height:
            keep &= b[:, 3] < y1 - EDGE_MARGIN
        boxes.append(b[keep])
        scores.append(d.scores[keep])
        classes.append(d.class_ids[keep])
    if not boxes:
        return Detections()
    b, s, c = np.concatenate(boxes), np.concatenate(scores), np.concatenate(classes)
    keep = batched_nms(b, s, c, iou, max_det)
    return Detections(b[keep].astype(np.float32), s[keep].astype(np.float32), c[keep].astype(np.int32))
