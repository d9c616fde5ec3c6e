"""COCO-style average precision: 10 IoU thresholds .50:.05:.95, 101 recall points, AP by object size.

Mirrors pycocotools' COCOeval.accumulate for one class over the per-image matches of matching.match_coco.
"""
import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)
#: name -> (min area, max area) in pixels², both ends included, as COCO.
AREA_RANGES = (("all", (0.0, 1e10)), ("small", (0.0, 32.0 ** 2)), ("medium", (32.0 ** 2, 96.0 ** 2)),
               ("large", (96.0 ** 2, 1e10)))
MAX_DETS = 100


def coco_precision(scores, dtm, dt_ig, n_pos):
    # type: (np.ndarray, np.ndarray, np.ndarray, int) -> tuple
    """(precision [T, R], recall [T]) of one class from concatenated per-image matches; (None, None) when n_pos is 0."""
    if not n_pos:
        return None, None
    t_count, r_count = dtm.shape[0], RECALL_THRESHOLDS.shape[0]
    order = np.argsort(-scores, kind="mergesort")
    dtm, dt_ig = dtm[:, order], dt_ig[:, order]
    tps = np.cumsum(dtm & ~dt_ig, axis=1).astype(np.float64)
    fps = np.cumsum(~dtm & ~dt_ig, axis=1).astype(np.float64)
    precision = np.zeros((t_count, r_count))
    recall = np.zeros((t_count,))
    nd = scores.shape[0]
    if nd == 0:
        return precision, recall
    for t in range(t_count):
        rc = tps[t] / n_pos
        pr = tps[t] / (fps[t] + tps[t] + np.spacing(1))
        recall[t] = rc[-1]
        pr = np.maximum.accumulate(pr[::-1])[::-1]
        inds = np.searchsorted(rc, RECALL_THRESHOLDS, side="left")
        ok = inds < nd
        precision[t, :][ok] = pr[inds[ok]]
    return precision, recall


def coco_summary(precision_by_area, recall_all):
    # type: (dict, np.ndarray) -> dict
    """AP, AP50, AP75, AP_small/medium/large and AR (max dets 100) of one class; None where there is nothing to find."""
    p = precision_by_area.get("all")
    out = {"ap": None, "ap50": None, "ap75": None, "ap_small": None, "ap_medium": None, "ap_large": None, "ar": None}
    if p is not None:
        out["ap"] = float(p.mean())
        out["ap50"] = float(p[0].mean())
        out["ap75"] = float(p[5].mean())
        out["ar"] = float(recall_all.mean())
    for name in ("small", "medium", "large"):
        q = precision_by_area.get(name)
        out["ap_" + name] = float(q.mean()) if q is not None else None
    return out
