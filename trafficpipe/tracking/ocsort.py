"""OC-SORT (Cao et al., CVPR 2023) on the same Kalman filter and arrays as ByteTrack: observation-centric momentum
(the direction a track was last observed moving in weighs its matches), observation-centric recovery (a lost track
is matched again by its last observed box) and re-update (a track found again replays the gap along a straight line
between its last observation and the new one, undoing the drift its filter took unobserved). Low-score detections
continue tracks as in ByteTrack. Time is the frames' timestamps; association is class-aware; ids 1, 2, 3... in the
order tracks are confirmed (at their `min_hits`-th detection)."""
import numpy as np

from . import kalman
from .matching import assign, load_assignment, same_class_iou

_BIG = 1e6


class OCSortConfig(object):
    """`high`: score from which a detection is matched first; `new`: score a detection needs to start a track;
    `low`: detections from `low` to `high` only continue tracks; `match_iou`: least IoU of any pair; `inertia`: weight of
    the direction consistency; `delta_t`: observations back over which a track's direction is taken; `min_hits`:
    detections that confirm a track; `buffer_s`: seconds an unseen track is kept; `frame_interval`: see TrackerConfig."""

    def __init__(self, high=0.5, new=0.6, low=0.2, match_iou=0.3, inertia=0.2, delta_t=3, min_hits=2,
                 buffer_s=1.5, frame_interval=None):
        self.high = float(high)
        self.new = float(new)
        self.low = float(low)
        self.match_iou = float(match_iou)
        self.inertia = float(inertia)
        self.delta_t = int(delta_t)
        self.min_hits = int(min_hits)
        self.buffer_s = float(buffer_s)
        self.frame_interval = frame_interval

    def as_dict(self):
        return dict(self.__dict__)


def _centres(b):
    return np.stack([(b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2], axis=-1)


class OCSortTracker(object):
    """OC-SORT over one source's frames, in order: `update(boxes, scores, class_ids, t)` -> a track id per detection
    (-1: not part of a confirmed track)."""

    name = "ocsort"
    _FIELDS = ("mean", "cov", "obs_mean", "obs_cov", "ids", "cls", "hits", "t_seen", "hist", "hist_n")

    def __init__(self, config=None):
        self.config = config or OCSortConfig()
        k = self.config.delta_t + 1
        self.mean = np.zeros((0, 8))
        self.cov = np.zeros((0, 3, 4))
        self.obs_mean = np.zeros((0, 8))  # the filter as it was right after the last observation
        self.obs_cov = np.zeros((0, 3, 4))
        self.ids = np.zeros((0,), np.int64)
        self.cls = np.zeros((0,), np.int64)
        self.hits = np.zeros((0,), np.int64)
        self.t_seen = np.zeros((0,))
        self.hist = np.zeros((0, k, 4))  # the last delta_t + 1 observed boxes, newest first
        self.hist_n = np.zeros((0,), np.int64)  # how many of them are real
        self.t_last = None
        self.frame_interval = self.config.frame_interval
        self.next_id = 1
        self.frames = 0
        load_assignment()

    def __len__(self):
        return len(self.ids)

    def _keep(self, mask):
        for name in self._FIELDS:
            setattr(self, name, getattr(self, name)[mask])

    def _steps(self, t):
        if self.t_last is None or t <= self.t_last:
            return 0.0
        dt = t - self.t_last
        if self.frame_interval is None:
            self.frame_interval = dt
        return dt / self.frame_interval

    def boxes(self):
        return kalman.xyah_to_xyxy(self.mean)

    def _directions(self):
        """Unit vectors [N,2] of each track's observed motion over its last delta_t observations (0 where unknown)."""
        n = len(self)
        if not n:
            return np.zeros((0, 2))
        last = _centres(self.hist[:, 0])
        back = np.clip(self.hist_n - 1, 0, None)
        old = _centres(self.hist[np.arange(n), back])
        d = last - old
        norm = np.hypot(d[:, 0], d[:, 1])
        return np.where(norm[:, None] > 1e-6, d / np.maximum(norm, 1e-6)[:, None], 0.0)

    def update(self, boxes, scores, class_ids, t):
        # type: (np.ndarray, np.ndarray, np.ndarray, float) -> np.ndarray
        """Associate one frame's detections (xyxy [N,4], scores [N], class ids [N]; time `t` in seconds)."""
        cfg = self.config
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float64).reshape(-1)
        class_ids = np.asarray(class_ids, np.int64).reshape(-1)
        out = np.full(len(scores), -1, np.int64)
        first_frame = self.frames == 0
        self.frames += 1
        steps = self._steps(t)
        self.t_last = t
        if len(self) and steps > 0:
            self.mean, self.cov = kalman.predict(self.mean, self.cov, steps)
        tboxes = self.boxes()
        high = np.nonzero(scores >= cfg.high)[0]
        low = np.nonzero((scores >= cfg.low) & (scores < cfg.high))[0]
        allt = np.arange(len(self))

        # round 1: every track with the high-score detections, IoU plus direction consistency
        iou = same_class_iou(tboxes, self.cls, boxes[high], class_ids[high])
        score = iou.copy()
        if len(allt) and len(high) and cfg.inertia:
            vel = self._directions()
            to_det = _centres(boxes[high])[None, :, :] - _centres(self.hist[:, 0])[:, None, :]
            norm = np.maximum(np.hypot(to_det[..., 0], to_det[..., 1]), 1e-6)
            cos = np.clip((to_det[..., 0] * vel[:, None, 0] + to_det[..., 1] * vel[:, None, 1]) / norm, -1, 1)
            consistency = (np.pi / 2 - np.abs(np.arccos(cos))) / np.pi
            known = (self.hist_n >= 2)[:, None]
            score += np.where(known, consistency, 0.0) * cfg.inertia * scores[high][None, :]
        pairs, free_t, free_d = assign(np.where(iou >= cfg.match_iou, -score, _BIG), _BIG / 2)
        rows, dets = [allt[pairs[:, 0]]], [high[pairs[:, 1]]]
        high_left = high[free_d]

        # round 2: tracks left with low-score detections (BYTE)
        rest = allt[free_t]
        iou = same_class_iou(tboxes[rest], self.cls[rest], boxes[low], class_ids[low])
        pairs, free_t2, _ = assign(1.0 - iou, 1.0 - cfg.match_iou)
        rows.append(rest[pairs[:, 0]])
        dets.append(low[pairs[:, 1]])
        rest = rest[free_t2]

        # round 3 (recovery): tracks left by their last observed box, with the high-score detections left
        iou = same_class_iou(self.hist[rest, 0], self.cls[rest], boxes[high_left], class_ids[high_left])
        pairs, _, free_d = assign(1.0 - iou, 1.0 - cfg.match_iou)
        rows.append(rest[pairs[:, 0]])
        dets.append(high_left[pairs[:, 1]])
        high_left = high_left[free_d]

        rows = np.concatenate(rows)
        dets = np.concatenate(dets)
        if len(rows):
            self._observe(rows, boxes[dets], t)
            new_ids = (self.ids[rows] == 0) & (self.hits[rows] >= cfg.min_hits)
            if new_ids.any():
                r = rows[new_ids]
                self.ids[r] = np.arange(self.next_id, self.next_id + len(r))
                self.next_id += len(r)
            out[dets] = np.where(self.ids[rows] > 0, self.ids[rows], -1)

        keep = t - self.t_seen <= cfg.buffer_s
        if not keep.all():
            self._keep(keep)
        starts = high_left[scores[high_left] >= cfg.new]
        if len(starts):
            self._start(boxes[starts], class_ids[starts], t, first_frame)
            if first_frame:
                out[starts] = self.ids[-len(starts):]
        return out

    def _observe(self, rows, det_boxes, t):
        """Kalman-correct `rows`; a track unseen for more than a frame first replays the gap (re-update)."""
        z = kalman.xyxy_to_xyah(det_boxes)
        gap = (t - self.t_seen[rows]) / (self.frame_interval or 1.0)
        late = gap > 1.5
        normal = ~late
        if normal.any():
            r = rows[normal]
            self.mean[r], self.cov[r] = kalman.update(self.mean[r], self.cov[r], z[normal])
        for i in np.nonzero(late)[0].tolist():  # rare: a track found again
            r = rows[i]
            g = gap[i]
            n = max(1, int(round(g)))
            m, c = self.obs_mean[r:r + 1], self.obs_cov[r:r + 1]
            z0 = kalman.xyxy_to_xyah(self.hist[r, :1])[0]
            for k in range(1, n + 1):
                m, c = kalman.predict(m, c, g / n)
                m, c = kalman.update(m, c, (z0 + (z[i] - z0) * (float(k) / n))[None])
            self.mean[r], self.cov[r] = m[0], c[0]
        self.obs_mean[rows] = self.mean[rows]
        self.obs_cov[rows] = self.cov[rows]
        self.t_seen[rows] = t
        self.hits[rows] += 1
        self.hist[rows, 1:] = self.hist[rows, :-1]
        self.hist[rows, 0] = det_boxes
        self.hist_n[rows] = np.minimum(self.hist_n[rows] + 1, self.hist.shape[1])

    def _start(self, det_boxes, cls, t, confirmed):
        n = len(det_boxes)
        mean, cov = kalman.initiate(kalman.xyxy_to_xyah(det_boxes))
        hist = np.zeros((n,) + self.hist.shape[1:])
        hist[:, 0] = det_boxes
        ids = np.zeros(n, np.int64)
        if confirmed:
            ids = np.arange(self.next_id, self.next_id + n)
            self.next_id += n
        for name, v in (("mean", mean), ("cov", cov), ("obs_mean", mean), ("obs_cov", cov), ("ids", ids),
                        ("cls", np.asarray(cls, np.int64)), ("hits", np.ones(n, np.int64)), ("t_seen", np.full(n, t)),
                        ("hist", hist), ("hist_n", np.ones(n, np.int64))):
            setattr(self, name, np.concatenate([getattr(self, name), v]))
