"""The one non-maximum suppression of the project: per class, greedy, IoU on xyxy boxes (OpenCV's C++ NMS)."""
import cv2
import numpy as np


def batched_nms(boxes, scores, class_ids, iou_threshold, max_det=300):
    # type: (np.ndarray, np.ndarray, np.ndarray, float, int) -> np.ndarray
    """Indices of the boxes kept by per-class NMS, highest score first, at most `max_det` of them.

    Boxes of different classes never suppress each other (each class is shifted to its own coordinate range). Every
    box takes part (OpenCV's `top_k` would cut the candidates before the suppression, not what it keeps).
    """
    n = scores.shape[0]
    if n == 0:
        return np.zeros((0,), np.int64)
    xywh = _class_shifted_xywh(boxes, class_ids, float(boxes.max()) + 1.0)
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), 0.0, float(iou_threshold))
    keep = np.asarray(keep, np.int64).reshape(-1)
    # NMSBoxes returns indices sorted by score; keep that order
    return keep[:max_det]


def _class_shifted_xywh(boxes, class_ids, offset):
    # type: (np.ndarray, np.ndarray, object) -> np.ndarray
    """float32 xywh of xyxy `boxes`, each class shifted by class id * `offset` (a number, or one per row)."""
    shifted = boxes + (class_ids.astype(np.float32) * offset)[:, None]
    xywh = np.empty_like(shifted)
    xywh[:, :2] = shifted[:, :2]
    xywh[:, 2:] = shifted[:, 2:] - shifted[:, :2]
    return xywh


def batched_nms_images(boxes, scores, class_ids, image, n_images, iou_threshold, max_det=None):
    # type: (np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, float, object) -> list
    """`batched_nms` of several images in one OpenCV call: rows sorted by `image` (0..n_images-1). Returns, per image,
    the indices (into the rows) that `batched_nms` of that image's rows alone keeps (at most `max_det`; None: all), in
    the same order: each image's classes
    are shifted exactly as there (float32), and the images apart along y in float64, where that sum is exact, so every
    width, height and overlap OpenCV computes (in double) is that of the image alone."""
    if scores.shape[0] == 0:
        return [np.zeros((0,), np.int64) for _ in range(n_images)]
    counts = np.bincount(image, minlength=n_images)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    present = counts > 0
    per_image_max = np.zeros(n_images, np.float64)
    per_image_max[present] = np.maximum.reduceat(boxes.max(axis=1), starts[present]).astype(np.float64)
    offset = (per_image_max + 1.0).astype(np.float32)  # each image's `float(boxes.max()) + 1.0`, as float32 multiplies it
    xywh = _class_shifted_xywh(boxes, class_ids, offset[image])
    apart = xywh.astype(np.float64)
    apart[:, 1] += image * (float((xywh[:, 1] + xywh[:, 3]).max()) + 1.0)
    keep = cv2.dnn.NMSBoxes(apart.tolist(), scores.tolist(), 0.0, float(iou_threshold))
    keep = np.asarray(keep, np.int64).reshape(-1)
    keep = keep[np.argsort(image[keep], kind="stable")]  # image by image, each highest score first
    parts = np.split(keep, np.cumsum(np.bincount(image[keep], minlength=n_images))[:-1])
    return parts if max_det is None else [k[:max_det] for k in parts]


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
