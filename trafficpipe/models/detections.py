"""Detections of one image: parallel numpy arrays of boxes, scores and traffic class ids."""
import numpy as np

from .classes import TRAFFIC_CLASSES


class Detections(object):
    """`boxes` float32 [N,4] xyxy in source-image pixels, `scores` float32 [N], `class_ids` int32 [N] (TRAFFIC_CLASSES);
    `track_ids` int64 [N] once a tracker has seen them (-1: in no confirmed track), else None."""

    __slots__ = ("boxes", "scores", "class_ids", "track_ids")

    def __init__(self, boxes=None, scores=None, class_ids=None, track_ids=None):
        self.boxes = np.zeros((0, 4), np.float32) if boxes is None else boxes
        self.scores = np.zeros((0,), np.float32) if scores is None else scores
        self.class_ids = np.zeros((0,), np.int32) if class_ids is None else class_ids
        self.track_ids = track_ids

    def select(self, mask):
        # type: (np.ndarray) -> Detections
        """The detections where `mask` (bool [N] or indices) holds."""
        return Detections(self.boxes[mask], self.scores[mask], self.class_ids[mask],
                          None if self.track_ids is None else self.track_ids[mask])

    def __len__(self):
        return int(self.scores.shape[0])

    def to_records(self, ndigits=2):
        # type: (int) -> list
        """JSON-ready list of {"cls", "score", "box"} dicts (and "track_id", null outside a track, once tracked)."""
        boxes = np.round(self.boxes.astype(np.float64), ndigits).tolist()
        scores = np.round(self.scores.astype(np.float64), 4).tolist()
        recs = [{"cls": TRAFFIC_CLASSES[c], "score": s, "box": b}
                for c, s, b in zip(self.class_ids.tolist(), scores, boxes)]
        if self.track_ids is not None:
            for r, t in zip(recs, self.track_ids.tolist()):
                r["track_id"] = t if t > 0 else None
        return recs

    def __repr__(self):
        return "Detections(%d)" % len(self)
