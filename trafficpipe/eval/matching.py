"""Matching the detections of one image and one class to its ground truth, the VOC way and the COCO way.

Both take detections already sorted by score (highest first, ties in their given order) and leave every decision
that spans images to the accumulators in voc.py and coco.py.
"""
import numpy as np

from ..models.nms import box_iou

TP, FP, IGNORED = 1, 0, -1


def box_area(b):
    # type: (np.ndarray) -> np.ndarray
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def inside_fraction(boxes, regions):
    # type: (np.ndarray, np.ndarray) -> np.ndarray
    """[N,M] fraction of each box's area that lies inside each region (COCO's IoU against a crowd region)."""
    lt = np.maximum(boxes[:, None, :2], regions[None, :, :2])
    rb = np.minimum(boxes[:, None, 2:], regions[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area = box_area(boxes)[:, None]
    return np.where(area > 0, inter / np.maximum(area, 1e-12), 0.0)


def match_voc(det_boxes, gt_boxes, gt_difficult, ignore_regions=None, iou_threshold=0.5, region_overlap=0.5):
    # type: (np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, float) -> np.ndarray
    """PASCAL VOC matching (as the VOC mAP tool does it): int8 flags per detection, TP (1), FP (0) or IGNORED (-1).

    In score order, each detection takes the ground-truth box it overlaps most (difficult ones included); at
    IoU >= `iou_threshold` it is IGNORED when that box is difficult, a TP when the box is still free, else a FP
    (duplicate). A FP whose area lies at least `region_overlap` inside an ignore region becomes IGNORED.
    """
    n = det_boxes.shape[0]
    flags = np.zeros((n,), np.int8)
    if n == 0:
        return flags
    if gt_boxes.shape[0]:
        ious = box_iou(det_boxes.astype(np.float64), gt_boxes.astype(np.float64))
        best = ious.argmax(1)  # first of equal overlaps, like the VOC mAP tool's strict `ov > ovmax`
        ovmax = ious[np.arange(n), best]
        used = np.zeros((gt_boxes.shape[0],), bool)
        for d in np.nonzero(ovmax >= iou_threshold)[0]:
            g = best[d]
            if gt_difficult[g]:
                flags[d] = IGNORED
            elif not used[g]:
                flags[d] = TP
                used[g] = True
    if ignore_regions is not None and ignore_regions.shape[0]:
        fp = flags == FP
        if fp.any():
            inside = inside_fraction(det_boxes[fp].astype(np.float64), ignore_regions).max(1) >= region_overlap
            idx = np.nonzero(fp)[0][inside]
            flags[idx] = IGNORED
    return flags


def match_coco(det_boxes, gt_boxes, gt_ignore, crowd_regions, iou_thresholds, area_range):
    # type: (np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple) -> tuple
    """pycocotools' evaluateImg for one image, one class, one area range: (dt_matched [T,D], dt_ignored [T,D], n_pos).

    `gt_ignore` marks ground truth that is not scored (difficult); `crowd_regions` (the ignore regions) match any
    number of detections with IoU = intersection / detection area. Ground truth outside `area_range` is ignored, and
    so are unmatched detections outside it. Detections must be sorted by score and already cut to maxDets.
    """
    lo, hi = area_range
    d = det_boxes.shape[0]
    ng = gt_boxes.shape[0]
    nc = crowd_regions.shape[0]
    t_count = len(iou_thresholds)
    gt_area = box_area(gt_boxes)
    gt_ig = np.concatenate([gt_ignore.astype(bool) | (gt_area < lo) | (gt_area > hi), np.ones((nc,), bool)])
    n_pos = int(np.count_nonzero(~gt_ig))
    dtm = np.zeros((t_count, d), bool)
    dt_ig = np.zeros((t_count, d), bool)
    if d == 0:
        return dtm, dt_ig, n_pos
    det_area = box_area(det_boxes)
    if ng + nc:
        ious = np.zeros((d, ng + nc), np.float64)
        if ng:
            ious[:, :ng] = box_iou(det_boxes.astype(np.float64), gt_boxes.astype(np.float64))
        if nc:
            ious[:, ng:] = inside_fraction(det_boxes.astype(np.float64), crowd_regions)
        iscrowd = np.concatenate([np.zeros((ng,), bool), np.ones((nc,), bool)])
        order = np.argsort(gt_ig, kind="mergesort")  # scored ground truth first
        ious, iscrowd, gig = ious[:, order], iscrowd[order], gt_ig[order]
        thr = np.minimum(np.asarray(iou_thresholds, np.float64), 1 - 1e-10)[:, None]
        gtm = np.zeros((t_count, ng + nc), bool)
        reach = ious.max(1) >= thr[0, 0] if thr.shape[0] else np.zeros((d,), bool)
        cols = ng + nc
        for di in np.nonzero(reach)[0]:
            iou_d = ious[di][None, :]
            ok = (~gtm | iscrowd[None, :]) & (iou_d >= thr)
            ok_pos = ok & ~gig[None, :]
            has_pos = ok_pos.any(1)
            sel = np.where(has_pos[:, None], ok_pos, ok & gig[None, :])
            found = sel.any(1)
            if not found.any():
                continue
            val = np.where(sel, iou_d, -1.0)
            m = cols - 1 - np.argmax(val[:, ::-1], axis=1)  # the last of equal IoUs, as pycocotools' `<` test keeps
            ts = np.nonzero(found)[0]
            ms = m[ts]
            dtm[ts, di] = True
            dt_ig[ts, di] = gig[ms]
            gtm[ts, ms] = True
    out = (det_area < lo) | (det_area > hi)
    dt_ig |= ~dtm & out[None, :]
    return dtm, dt_ig, n_pos
