"""Track sinks: MOTChallenge text (`frame,id,x,y,w,h,score,-1,-1,-1`, 1-based frames) and a per-track summary."""
import json
import os

from ..models.classes import TRAFFIC_CLASSES
from .base import Sink
from .staged import StagedFile


class _TextSink(Sink):
    """A text output written aside and put in place (replacing an older one) when closed; a run that wrote no frame
    leaves an older one as it was; `discard` drops it. Subclasses write a frame in `_write` to `self.f`."""

    def __init__(self, path):
        self.out = StagedFile(path)
        self.path = path
        self.replaces = self.out.replaces
        self.f = self.out.f
        self.frames = 0

    def write(self, frame):
        self.frames += 1
        self._write(frame)

    def _write(self, frame):
        raise NotImplementedError

    def _finish(self, f):
        pass

    def close(self):
        self.out.close(self.frames, self._finish)

    def discard(self):
        self.out.discard()


class MotSink(_TextSink):
    """The tracked detections in MOTChallenge text: one row per detection of a confirmed track; frame = index + 1."""

    def _write(self, frame):
        d = frame.detections
        if d is None or d.track_ids is None or not len(d):
            return
        rows = []
        n = frame.index + 1
        for tid, b, s in zip(d.track_ids.tolist(), d.boxes.tolist(), d.scores.tolist()):
            if tid > 0:
                rows.append("%d,%d,%.2f,%.2f,%.2f,%.2f,%.4f,-1,-1,-1\n" % (n, tid, b[0], b[1], b[2] - b[0], b[3] - b[1], s))
        self.f.write("".join(rows))


class TrackSummarySink(_TextSink):
    """At the end, `<name>.tracks.json`: per track id, its class (the most frequent), first and last frame and time
    (s), frames seen and mean score."""

    def __init__(self, path, source_name):
        super(TrackSummarySink, self).__init__(path)
        self.source_name = source_name
        self.tracks = {}  # id -> [first frame, last frame, first t, last t, frames, score sum, {class id: count}]

    def _write(self, frame):
        d = frame.detections
        if d is None or d.track_ids is None:
            return
        t = frame.pts
        for tid, s, c in zip(d.track_ids.tolist(), d.scores.tolist(), d.class_ids.tolist()):
            if tid <= 0:
                continue
            r = self.tracks.get(tid)
            if r is None:
                r = self.tracks[tid] = [frame.index, frame.index, t, t, 0, 0.0, {}]
            r[1] = frame.index
            r[3] = t
            r[4] += 1
            r[5] += s
            r[6][c] = r[6].get(c, 0) + 1

    def summary(self):
        # type: () -> list
        out = []
        for tid in sorted(self.tracks):
            f0, f1, t0, t1, n, ssum, classes = self.tracks[tid]
            cls = max(sorted(classes), key=lambda c: classes[c])
            out.append({"id": tid, "cls": TRAFFIC_CLASSES[cls], "first_frame": f0, "last_frame": f1,
                        "first_t": None if t0 is None else round(t0, 4), "last_t": None if t1 is None else round(t1, 4),
                        "frames": n, "mean_score": round(ssum / n, 4)})
        return out

    def _finish(self, f):
        json.dump({"source": self.source_name, "tracks": self.summary()}, f, indent=1)
        f.write("\n")
