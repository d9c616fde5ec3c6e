"""The one non-maximum suppression of the project: per class, greedy, IoU on xyxy boxes (OpenCV's C++ NMS)."""
import cv2
import numpy as np


def batched_nms(boxes, scores, class_ids, iou_threshold, max_det=300):
    # type: (np.ndarray, np.ndarray, np.ndarray, float, int) -> np.ndarray
    """Indices of the boxes kept by per-class NMS, highest score first.

    Boxes of different classes never suppress each other (each class is shifted to its own coordinate range); any
    integer group id may stand for the class. Every box takes part; at most `max_det` are kept (OpenCV's `top_k`
    would instead cut the candidates before NMS, losing boxes that the suppressed ones leave room for).
    """
    n = scores.shape[0]
    if n == 0:
        return np.zeros((0,), np.int64)
    # shifted in float64: x + k * offset is exact there for float32 boxes, so each box's width, height and overlaps
    # (OpenCV computes them in double) are those of the unshifted box, whatever the offset (batched_nms over several
    # images' groups gives each image's own result)
    offset = float(boxes.max()) + 1.0
    shifted = boxes.astype(np.float64)
    shifted += (class_ids.astype(np.float64) * offset)[:, None]
    xywh = np.empty_like(shifted)
    xywh[:, :2] = shifted[:, :2]
    xywh[:, 2:] = shifted[:, 2:] - shifted[:, :2]
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), 0.0, float(iou_threshold))
    keep = np.asarray(keep, np.int64).reshape(-1)
    # NMSBoxes returns indices sorted by score; keep that order
    return keep[:max_det]


def box_iou(a, b):
    # type: (np.ndarray, np.ndarray) -> np.ndarray
    """Pairwise IoU of xyxy boxes a [N,4] and b [M,4] -> [N,M]."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
