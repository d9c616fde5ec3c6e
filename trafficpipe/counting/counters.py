"""Line crossings and zone occupancy of tracked objects. A track's position is its box's bottom centre (where a
vehicle or person meets the ground)."""
import numpy as np

#: seconds after which a track not seen any more is forgotten by the counters
FORGET_S = 30.0


def anchors(boxes):
    # type: (np.ndarray) -> np.ndarray
    """Bottom centres [N,2] of xyxy boxes."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.stack([(b[:, 0] + b[:, 2]) / 2, b[:, 3]], axis=1)


class LineCounter(object):
    """Counts tracks crossing `line` per class and direction ("in", "out": see counting.spec.Line), each track at most
    once per direction. A side is taken only `margin` pixels or more from the line, so a box jittering on the line is
    not counted to and fro; the crossing point must lie on the segment, not its extension."""

    def __init__(self, line, margin=2.0):
        self.line = line
        self.p1 = np.asarray(line.p1, np.float64)
        self.d = np.asarray(line.p2, np.float64) - self.p1
        self.len = float(np.hypot(self.d[0], self.d[1]))
        self.margin = float(margin)
        self.last = {}  # track id -> (side +1/-1, x, y, t) at the last position clearly off the line
        self.counted = set()  # (track id, direction)
        self.counts = {"in": {}, "out": {}}  # direction -> class name -> tracks

    def update(self, ids, points, classes, t):
        # type: (list, np.ndarray, list, float) -> list
        """One frame's tracked positions: returns the crossings [(track id, direction, class)] it completes."""
        if not len(ids):
            return []
        rel = points - self.p1
        dist = (self.d[0] * rel[:, 1] - self.d[1] * rel[:, 0]) / self.len  # signed distance from the line
        events = []
        for tid, (x, y), s, cls in zip(ids, points.tolist(), dist.tolist(), classes):
            if -self.margin < s < self.margin:
                continue
            side = 1 if s > 0 else -1
            prev = self.last.get(tid)
            self.last[tid] = (side, x, y, t, s)
            if prev is None or prev[0] == side:
                continue
            # where the path from the last clear position crossed the line: on the segment?
            ps = prev[4]
            a = ps / (ps - s)
            cx, cy = prev[1] + a * (x - prev[1]), prev[2] + a * (y - prev[2])
            u = ((cx - self.p1[0]) * self.d[0] + (cy - self.p1[1]) * self.d[1]) / (self.len ** 2)
            if not 0.0 <= u <= 1.0:
                continue
            direction = "in" if side > 0 else "out"
            if (tid, direction) in self.counted:
                continue
            self.counted.add((tid, direction))
            by_cls = self.counts[direction]
            by_cls[cls] = by_cls.get(cls, 0) + 1
            events.append((tid, direction, cls))
        return events

    def forget(self, t):
        """Drop the positions of tracks not seen for FORGET_S seconds (their counts stay)."""
        for tid in [k for k, v in self.last.items() if t - v[3] > FORGET_S]:
            del self.last[tid]

    def record(self):
        return {"in": dict(self.counts["in"]), "out": dict(self.counts["out"])}


def inside_polygon(points, polygon):
    # type: (np.ndarray, np.ndarray) -> np.ndarray
    """Bool [N]: which points lie inside `polygon` [K,2] (even-odd rule) or on its boundary, as OpenCV's
    pointPolygonTest(...) >= 0: a box clipped to the frame has its anchor on the frame's edge, which a zone drawn to
    the edge must count."""
    x, y = points[:, 0][:, None], points[:, 1][:, None]
    px, py = polygon[:, 0][None, :], polygon[:, 1][None, :]
    qx, qy = np.roll(polygon[:, 0], -1)[None, :], np.roll(polygon[:, 1], -1)[None, :]
    crosses = (py > y) != (qy > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xint = px + (y - py) * (qx - px) / (qy - py)
    inside = ((crosses & (x < xint)).sum(axis=1) % 2) == 1
    # on an edge: collinear with it (cross product ~0, to a millionth of the edge's length) and between its ends
    ex, ey = qx - px, qy - py
    cross = ex * (y - py) - ey * (x - px)
    dot = ex * (x - px) + ey * (y - py)
    length2 = ex * ex + ey * ey
    on_edge = (np.abs(cross) <= 1e-6 * np.sqrt(length2) + 1e-9) & (dot >= 0) & (dot <= length2)
    return inside | on_edge.any(axis=1)


class ZoneCounter(object):
    """Per frame, the tracked objects per class inside `zone`; per track, when it was inside and for how long
    (the time between frames where it is inside in both)."""

    def __init__(self, zone):
        self.zone = zone
        self.poly = np.asarray(zone.points, np.float64)
        self.tracks = {}  # id -> [class, first t, last t, dwell s, frames, inside at the last frame]
        self.max_occupancy = {}
        self.t_prev = None

    def update(self, ids, points, classes, t):
        # type: (list, np.ndarray, list, float) -> dict
        """One frame's tracked positions: returns its occupancy {class: objects inside}."""
        occ = {}
        inside = inside_polygon(points, self.poly) if len(ids) else np.zeros(0, bool)
        now = set()
        for tid, cls, yes in zip(ids, classes, inside.tolist()):
            if not yes:
                continue
            now.add(tid)
            occ[cls] = occ.get(cls, 0) + 1
            r = self.tracks.get(tid)
            if r is None:
                self.tracks[tid] = [cls, t, t, 0.0, 1, True]
                continue
            if r[5] and self.t_prev is not None:
                r[3] += t - self.t_prev
            r[2] = t
            r[4] += 1
            r[5] = True
        for tid, r in self.tracks.items():
            if r[5] and tid not in now:
                r[5] = False
        for cls, n in occ.items():
            if n > self.max_occupancy.get(cls, 0):
                self.max_occupancy[cls] = n
        self.t_prev = t
        return occ

    def summary(self):
        visits = {}
        dwell = []
        for tid in sorted(self.tracks):
            cls, t0, t1, d, n, _ = self.tracks[tid]
            visits[cls] = visits.get(cls, 0) + 1
            dwell.append({"track_id": tid, "cls": cls, "first_t": round(t0, 4), "last_t": round(t1, 4),
                          "dwell_s": round(d, 4), "frames": n})
        return {"points": [list(p) for p in self.zone.points], "visits": visits,
                "max_occupancy": dict(self.max_occupancy), "dwell": dwell}
