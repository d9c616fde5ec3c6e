"""Drawing detections onto frames (boxes, class names, scores)."""
import cv2

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
