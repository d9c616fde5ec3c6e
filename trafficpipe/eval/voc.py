"""PASCAL VOC average precision with all-point interpolation (VOC2010+, the method of the VOC mAP tool)."""
import numpy as np

from .matching import IGNORED, TP


def voc_ap(recall, precision):
    # type: (np.ndarray, np.ndarray) -> float
    """Area under the precision envelope: precision made non-increasing from the right, summed where recall steps."""
    mrec = np.concatenate([[0.0], np.asarray(recall, np.float64), [1.0]])
    mpre = np.concatenate([[0.0], np.asarray(precision, np.float64), [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.nonzero(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[steps] - mrec[steps - 1]) * mpre[steps]))


class VocCurve(object):
    """The precision-recall curve of one class at one IoU threshold over a set of images.

    `scores`, `tp`, `fp` (cumulative counts), `recall` and `precision` run over the scored detections (ignored ones
    left out) from the highest score down; `n_pos` counts the ground truth that can be hit (difficult left out).
    """

    def __init__(self, scores, flags, n_pos):
        order = np.argsort(-scores, kind="mergesort")  # ties keep image order, then detection order
        scores, flags = scores[order], flags[order]
        keep = flags != IGNORED
        self.scores = scores[keep]
        hit = flags[keep] == TP
        self.tp = np.cumsum(hit).astype(np.float64)
        self.fp = np.cumsum(~hit).astype(np.float64)
        self.n_pos = int(n_pos)
        self.recall = self.tp / self.n_pos if self.n_pos else np.zeros_like(self.tp)
        self.precision = self.tp / np.maximum(self.tp + self.fp, 1e-12)

    @property
    def ap(self):
        # type: () -> float
        """All-point AP; None when the class has no ground truth to find."""
        if not self.n_pos:
            return None
        if not self.scores.size:
            return 0.0
        return voc_ap(self.recall, self.precision)

    def best_f1(self):
        # type: () -> dict
        """Precision, recall and F1 at the score threshold with the best F1 (never splitting tied scores)."""
        if not self.scores.size or not self.n_pos:
            return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "threshold": None}
        last = np.nonzero(np.concatenate([self.scores[1:] != self.scores[:-1], [True]]))[0]
        p, r = self.precision[last], self.recall[last]
        f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)
        i = int(np.argmax(f1))
        return {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f1[i]),
                "threshold": float(self.scores[last[i]])}

    def at_threshold(self, conf):
        # type: (float) -> dict
        """Precision and recall of the detections scoring at least `conf`."""
        n = int(np.count_nonzero(self.scores >= conf))
        if n == 0 or not self.n_pos:
            return {"precision": 0.0, "recall": 0.0, "threshold": float(conf)}
        return {"precision": float(self.precision[n - 1]), "recall": float(self.recall[n - 1]),
                "threshold": float(conf)}
