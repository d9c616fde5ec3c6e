"""Drawing detections onto frames (boxes, class names, scores; track ids and trails; counting lines and zones)."""
import cv2
import numpy as np

from .models.classes import TRAFFIC_CLASSES

#: BGR colour per traffic class id.
COLORS = ((0, 200, 255), (80, 220, 60), (255, 160, 0), (60, 60, 240), (200, 0, 200))


def draw_detections(image, detections, thickness=2):
    """Draw `detections` on `image` in place."""
    n = len(detections)
    if not n:
        return image
    boxes = detections.boxes.astype(int).tolist()
    scores = detections.scores.tolist()
    for (x1, y1, x2, y2), s, c in zip(boxes, scores, detections.class_ids.tolist()):
        color = COLORS[c % len(COLORS)]
        cv2.rectangle(image, (x1, y1), (x2, y2), color, thickness)
        label = "%s %.2f" % (TRAFFIC_CLASSES[c], s)
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
        y = y1 - 4 if y1 - th - 6 >= 0 else y1 + th + 4
        cv2.rectangle(image, (x1, y - th - 2), (x1 + tw + 2, y + 2), color, -1)
        cv2.putText(image, label, (x1 + 1, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return image


def draw_tracks(image, detections, trails=None, thickness=2):
    """Draw tracked `detections` on `image` in place: boxes, "#id class score" labels (no id outside a track) and each
    track's recent path (`trails`: track id -> list of (x, y) points, oldest first)."""
    ids = detections.track_ids
    if not len(detections):
        return image
    if trails and ids is not None:
        for tid in ids.tolist():
            pts = trails.get(tid)
            if pts is not None and len(pts) > 1:
                c = COLORS[tid % len(COLORS)]
                cv2.polylines(image, [np.asarray(pts, np.int32).reshape(-1, 1, 2)], False, c, thickness, cv2.LINE_AA)
    boxes = detections.boxes.astype(int).tolist()
    scores = detections.scores.tolist()
    tids = ids.tolist() if ids is not None else [-1] * len(boxes)
    for (x1, y1, x2, y2), s, c, tid in zip(boxes, scores, detections.class_ids.tolist(), tids):
        color = COLORS[c % len(COLORS)]
        cv2.rectangle(image, (x1, y1), (x2, y2), color, thickness if tid > 0 else 1)
        label = ("#%d %s %.2f" % (tid, TRAFFIC_CLASSES[c], s)) if tid > 0 else ("%s %.2f" % (TRAFFIC_CLASSES[c], s))
        _label(image, label, x1, y1, color)
    return image


def _label(image, text, x, y, color):
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
    y = y - 4 if y - th - 6 >= 0 else y + th + 4
    cv2.rectangle(image, (x, y - th - 2), (x + tw + 2, y + 2), color, -1)
    cv2.putText(image, text, (x + 1, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)


def draw_counts(image, lines, zones, counts):
    """Draw counting lines and zones with their current figures (`counts`: the step's per-frame "counts" record)."""
    for z in zones:
        pts = np.asarray(z.points, np.int32).reshape(-1, 1, 2)
        cv2.polylines(image, [pts], True, (255, 255, 255), 2, cv2.LINE_AA)
        occ = counts["zones"][z.name]
        text = "%s: %s" % (z.name, ", ".join("%s %d" % (k, v) for k, v in sorted(occ.items())) or "0")
        _label(image, text, int(z.points[0][0]), int(z.points[0][1]), (255, 255, 255))
    for ln in lines:
        (x1, y1), (x2, y2) = ln.p1, ln.p2
        cv2.line(image, (int(x1), int(y1)), (int(x2), int(y2)), (0, 255, 255), 2, cv2.LINE_AA)
        c = counts["lines"][ln.name]
        text = "%s in %d out %d" % (ln.name, sum(c["in"].values()), sum(c["out"].values()))
        _label(image, text, int(min(x1, x2)), int(min(y1, y2)), (0, 255, 255))
    return image
