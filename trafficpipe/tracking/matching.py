"""Box overlap and thresholded assignment for the trackers."""
import numpy as np

_lsa = []  # scipy's linear_sum_assignment, imported on first use (the package imports numpy alone)


def load_assignment():
    """scipy's linear_sum_assignment (imported on the first call)."""
    if not _lsa:
        try:
            from scipy.optimize import linear_sum_assignment
        except ImportError:
            from ..errors import TrafficpipeError
            raise TrafficpipeError("tracking needs scipy: pip install scipy (on a Jetson: apt install python3-scipy)")
        _lsa.append(linear_sum_assignment)
    return _lsa[0]


def iou_matrix(a, b):
    # type: (np.ndarray, np.ndarray) -> np.ndarray
    """IoU of every box in `a` [N,4] with every box in `b` [M,4] (xyxy): [N,M] float64."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / np.maximum(union, 1e-9)


def same_class_iou(a, a_cls, b, b_cls):
    # type: (np.ndarray, np.ndarray, np.ndarray, np.ndarray) -> np.ndarray
    """`iou_matrix` with pairs of different classes set to 0 (class-aware association)."""
    iou = iou_matrix(a, b)
    if iou.size:
        iou[np.asarray(a_cls)[:, None] != np.asarray(b_cls)[None, :]] = 0.0
    return iou


def assign(cost, limit):
    # type: (np.ndarray, float) -> tuple
    """Minimum-cost matching where a pair costs at most `limit` (scipy's linear_sum_assignment on the cost clipped at
    `limit`: the same matching as lapjv's cost_limit). Returns (pairs [K,2] of (row, col), unmatched rows,
    unmatched cols)."""
    n, m = cost.shape
    if n == 0 or m == 0:
        return np.zeros((0, 2), np.int64), np.arange(n), np.arange(m)
    rows, cols = load_assignment()(np.minimum(cost, limit))
    keep = cost[rows, cols] < limit
    rows, cols = rows[keep], cols[keep]
    row_free = np.ones(n, bool)
    row_free[rows] = False
    col_free = np.ones(m, bool)
    col_free[cols] = False
    return np.stack([rows, cols], axis=1), np.nonzero(row_free)[0], np.nonzero(col_free)[0]
