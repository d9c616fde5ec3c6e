"""Running a tracker over given detections (MOTChallenge det.txt): the tracker-only mode of `eval-track`."""
import numpy as np

from .motdata import format_mot_rows


def track_detections(tracker, per_frame, fps, out_path):
    # type: (object, list, float, str) -> int
    """Feed `per_frame` [(boxes xyxy, scores)] (frame k+1 at time k/fps; one class) to `tracker` and write its
    tracked detections as MOTChallenge rows to `out_path`. Returns the number of rows written."""
    n = 0
    with open(out_path, "w") as f:
        for k, (boxes, scores) in enumerate(per_frame):
            ids = tracker.update(boxes, scores, np.zeros(len(scores), np.int64), k / float(fps))
            m = ids > 0
            f.write(format_mot_rows(k + 1, ids[m].tolist(), boxes[m].tolist(), scores[m].tolist()))
            n += int(m.sum())
    return n
