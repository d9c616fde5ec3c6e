"""Detections as Parquet rows: one row per detection (video, frame, timestamp, class, score, box [x1, y1, x2, y2]
in source pixels; track_id where a tracker gives one)."""
import numpy as np

from ..models.classes import TRAFFIC_CLASSES
from ..sinks.base import Sink

COLUMNS = ("video", "frame", "timestamp", "class", "score", "box")


def schema(track_ids=False):
    """The pyarrow schema of a scoring run's Parquet files."""
    import pyarrow as pa
    fields = [pa.field("video", pa.string()), pa.field("frame", pa.int32()), pa.field("timestamp", pa.float64()),
              pa.field("class", pa.string()), pa.field("score", pa.float32()), pa.field("box", pa.list_(pa.float32()))]
    if track_ids:
        fields.append(pa.field("track_id", pa.int64()))
    return pa.schema(fields)


class RowsSink(Sink):
    """Collects the detections of one source's frames; `first` is added to the pipeline's 0-based frame numbers (a
    segment's first frame in its file). `table(video)` gives them as a pyarrow Table, with `track_ids` a track_id
    column (null outside a confirmed track, as `detect`'s JSON lines have it)."""

    def __init__(self, first=0, track_ids=False):
        self.first = int(first)
        self.frames = 0
        self.track_ids = bool(track_ids)
        self._frame, self._time, self._cls, self._score, self._box, self._ids = [], [], [], [], [], []

    def write(self, frame):
        d = frame.detections
        n = len(d)
        self.frames += 1
        if not n:
            return
        self._frame.append(np.full(n, self.first + frame.index, np.int32))
        self._time.append(np.full(n, frame.pts if frame.pts is not None else np.nan, np.float64))
        self._cls.append(np.asarray(d.class_ids, np.int32))
        self._score.append(np.asarray(d.scores, np.float32))
        self._box.append(np.asarray(d.boxes, np.float32).reshape(n, 4))
        if self.track_ids:
            self._ids.append(np.asarray(d.track_ids if d.track_ids is not None else np.zeros(n), np.int64))

    def table(self, video):
        """The collected rows of `video` (its output name) as a pyarrow Table of `schema(track_ids)`."""
        import pyarrow as pa
        cat = (lambda parts, dt: np.concatenate(parts) if parts else np.zeros(0, dt))
        boxes = np.concatenate(self._box) if self._box else np.zeros((0, 4), np.float32)
        names = np.asarray(TRAFFIC_CLASSES, dtype=object)
        cls = cat(self._cls, np.int32)
        n = len(cls)
        columns = [
            pa.array([video] * n, pa.string()),
            pa.array(cat(self._frame, np.int32), pa.int32()),
            pa.array(cat(self._time, np.float64), pa.float64()),
            pa.array(names[cls] if n else [], pa.string()),
            pa.array(cat(self._score, np.float32), pa.float32()),
            pa.ListArray.from_arrays(pa.array(np.arange(0, 4 * n + 1, 4, dtype=np.int32)),
                                     pa.array(boxes.reshape(-1), pa.float32()))]
        if self.track_ids:
            ids = cat(self._ids, np.int64)
            columns.append(pa.array(ids, pa.int64(), mask=ids <= 0))
        return pa.Table.from_arrays(columns, schema=schema(self.track_ids))
