"""ByteTrack (Zhang et al., ECCV 2022): two-round association of high- and low-score detections, Kalman motion,
lost-track buffer. Tracks live in parallel numpy arrays so a frame costs a few batched operations, not one Python call
per track. Time comes from the frames' timestamps (seconds): a dropped frame means a longer prediction step, and the
lost-track buffer is a duration.

Association is class-aware: a track only takes detections of its own class (a car is never continued by a
pedestrian). Ids are 1, 2, 3... in the order tracks are confirmed.
"""
import numpy as np

from . import kalman
from .matching import assign, load_assignment, same_class_iou

NEW, TRACKED, LOST = 0, 1, 2


class TrackerConfig(object):
    """ByteTrack's settings. `high`: score from which a detection is associated first and may start a track (a new
    track needs `high + new_margin`); `low`: detections from `low` to `high` only continue tracks (second round);
    `match_iou`: least IoU (score-weighted) of a first-round pair, `low_match_iou` of a second-round pair,
    `confirm_iou` of a new track's second detection; `buffer_s`: seconds a lost track is kept for re-identification;
    `frame_interval`: the nominal seconds per frame (None: the first gap between timestamps); `fuse_score`: weight
    first-round and confirming IoUs by the detection's score (ByteTrack's MOT17 setting). The defaults were chosen on
    MOT17's public detections (docs/tracking.md)."""

    def __init__(self, high=0.5, low=0.2, new_margin=0.1, match_iou=0.2, low_match_iou=0.5, confirm_iou=0.3,
                 buffer_s=1.5, frame_interval=None, fuse_score=False):
        self.high = float(high)
        self.low = float(low)
        self.new_margin = float(new_margin)
        self.match_iou = float(match_iou)
        self.low_match_iou = float(low_match_iou)
        self.confirm_iou = float(confirm_iou)
        self.buffer_s = float(buffer_s)
        self.frame_interval = frame_interval
        self.fuse_score = bool(fuse_score)

    def as_dict(self):
        return dict(self.__dict__)


class TrackState(object):
    """The tracks of one tracker as parallel arrays (row i = one track)."""

    def __init__(self):
        self.mean = np.zeros((0, 8))
        self.cov = np.zeros((0, 3, 4))
        self.ids = np.zeros((0,), np.int64)  # 0 until confirmed
        self.cls = np.zeros((0,), np.int64)
        self.state = np.zeros((0,), np.int8)
        self.t_seen = np.zeros((0,))  # time of the last matched detection
        self.t_start = np.zeros((0,))

    def __len__(self):
        return len(self.ids)

    def add(self, mean, cov, cls, state, ids, t):
        n = len(mean)
        self.mean = np.concatenate([self.mean, mean])
        self.cov = np.concatenate([self.cov, cov])
        self.ids = np.concatenate([self.ids, ids])
        self.cls = np.concatenate([self.cls, np.asarray(cls, np.int64)])
        self.state = np.concatenate([self.state, np.full(n, state, np.int8)])
        self.t_seen = np.concatenate([self.t_seen, np.full(n, t)])
        self.t_start = np.concatenate([self.t_start, np.full(n, t)])

    def keep(self, mask):
        for name in ("mean", "cov", "ids", "cls", "state", "t_seen", "t_start"):
            setattr(self, name, getattr(self, name)[mask])


class ByteTracker(object):
    """ByteTrack over one source's frames, in order: `update(boxes, scores, class_ids, t)` -> a track id per
    detection (-1: not part of a confirmed track)."""

    name = "bytetrack"

    def __init__(self, config=None):
        self.config = config or TrackerConfig()
        self.tracks = TrackState()
        self.t_last = None
        self.frame_interval = self.config.frame_interval
        self.next_id = 1
        self.frames = 0
        load_assignment()  # scipy's import (about 0.4 s) now, not inside the first frame

    def _steps(self, t):
        """Nominal frames since the last update."""
        if self.t_last is None:
            return 0.0
        dt = t - self.t_last
        if dt <= 0:
            return 0.0
        if self.frame_interval is None:
            self.frame_interval = dt
        return dt / self.frame_interval

    def boxes(self):
        # type: () -> np.ndarray
        """The tracks' current (predicted or corrected) boxes, xyxy [N,4]."""
        return kalman.xyah_to_xyxy(self.tracks.mean)

    def _correct(self, rows, det_boxes, t):
        """Kalman-correct the tracks `rows` with their detections (one batched update: each track has one)."""
        if not len(rows):
            return
        T = self.tracks
        T.mean[rows], T.cov[rows] = kalman.update(T.mean[rows], T.cov[rows], kalman.xyxy_to_xyah(det_boxes))
        T.t_seen[rows] = t
        T.state[rows] = TRACKED

    def update(self, boxes, scores, class_ids, t):
        # type: (np.ndarray, np.ndarray, np.ndarray, float) -> np.ndarray
        """Associate one frame's detections (xyxy [N,4], scores [N], class ids [N]; time `t` in seconds) with the
        tracks. Returns int64 [N]: the id of the confirmed track each detection continues or starts, else -1."""
        cfg = self.config
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float64).reshape(-1)
        class_ids = np.asarray(class_ids, np.int64).reshape(-1)
        out = np.full(len(scores), -1, np.int64)
        T = self.tracks
        first_frame = self.frames == 0
        self.frames += 1
        steps = self._steps(t)
        self.t_last = t
        if len(T) and steps > 0:
            not_tracked = T.state != TRACKED
            if not_tracked.any():
                T.mean[not_tracked, 7] = 0.0  # a lost track keeps its size
            T.mean, T.cov = kalman.predict(T.mean, T.cov, steps)
        tboxes = self.boxes()
        high = np.nonzero(scores >= cfg.high)[0]
        low = np.nonzero((scores >= cfg.low) & (scores < cfg.high))[0]

        # round 1: confirmed tracks (tracked and lost) with high-score detections, IoU weighted by score
        pool = np.nonzero(T.state != NEW)[0]
        iou = same_class_iou(tboxes[pool], T.cls[pool], boxes[high], class_ids[high])
        if cfg.fuse_score:
            iou *= scores[high][None, :]
        pairs, free_t, free_d = assign(1.0 - iou, 1.0 - cfg.match_iou)
        rows, dets = pool[pairs[:, 0]], high[pairs[:, 1]]
        out[dets] = T.ids[rows]
        matched_rows, matched_dets = [rows], [dets]  # corrected together after the last round
        high_left = high[free_d]

        # round 2: tracks still in view but unmatched, with low-score detections, plain IoU
        rest = pool[free_t]
        rest = rest[T.state[rest] == TRACKED]
        iou = same_class_iou(tboxes[rest], T.cls[rest], boxes[low], class_ids[low])
        pairs, free_t2, _ = assign(1.0 - iou, 1.0 - cfg.low_match_iou)
        rows, dets = rest[pairs[:, 0]], low[pairs[:, 1]]
        out[dets] = T.ids[rows]
        matched_rows.append(rows)
        matched_dets.append(dets)
        T.state[rest[free_t2]] = LOST

        # unconfirmed tracks (seen once) with the high-score detections left: confirmed, or dropped
        new = np.nonzero(T.state == NEW)[0]
        iou = same_class_iou(tboxes[new], T.cls[new], boxes[high_left], class_ids[high_left])
        if cfg.fuse_score:
            iou *= scores[high_left][None, :]
        pairs, _, free_d = assign(1.0 - iou, 1.0 - cfg.confirm_iou)
        rows, dets = new[pairs[:, 0]], high_left[pairs[:, 1]]
        matched_rows.append(rows)
        matched_dets.append(dets)
        all_rows = np.concatenate(matched_rows)
        self._correct(all_rows, boxes[np.concatenate(matched_dets)], t)
        n_conf = len(rows)
        if n_conf:
            T.ids[rows] = np.arange(self.next_id, self.next_id + n_conf)
            self.next_id += n_conf
        out[dets] = T.ids[rows]
        drop = np.zeros(len(T), bool)
        drop[new] = True
        drop[rows] = False
        high_left = high_left[free_d]

        # new tracks from the remaining confident detections (confirmed at once on the first frame)
        starts = high_left[scores[high_left] >= cfg.high + cfg.new_margin]
        # lost tracks past the buffer go
        drop |= (T.state == LOST) & (t - T.t_seen > cfg.buffer_s)
        if drop.any():
            T.keep(~drop)
        if len(starts):
            mean, cov = kalman.initiate(kalman.xyxy_to_xyah(boxes[starts]))
            if first_frame:
                ids = np.arange(self.next_id, self.next_id + len(starts))
                self.next_id += len(starts)
                T.add(mean, cov, class_ids[starts], TRACKED, ids, t)
                out[starts] = ids
            else:
                T.add(mean, cov, class_ids[starts], NEW, np.zeros(len(starts), np.int64), t)
        gone = self._drop_duplicates()
        if gone is not None:
            out[np.isin(out, gone)] = -1  # a followed track that gave way to an older one it duplicated
        return out

    def _drop_duplicates(self):
        """A lost track overlapping a tracked one almost exactly (IoU > 0.85): the younger of the two goes. Returns
        the ids of followed tracks dropped so (None when none)."""
        T = self.tracks
        tracked = np.nonzero(T.state == TRACKED)[0]
        lost = np.nonzero(T.state == LOST)[0]
        if not len(tracked) or not len(lost):
            return None
        boxes = self.boxes()
        iou = same_class_iou(boxes[tracked], T.cls[tracked], boxes[lost], T.cls[lost])
        a, b = np.nonzero(iou > 0.85)
        if not len(a):
            return None
        drop = np.zeros(len(T), bool)
        for i, j in zip(tracked[a].tolist(), lost[b].tolist()):
            age_i = T.t_seen[i] - T.t_start[i]
            age_j = T.t_seen[j] - T.t_start[j]
            drop[j if age_i > age_j else i] = True
        gone = T.ids[drop & (T.state == TRACKED) & (T.ids > 0)]
        T.keep(~drop)
        return gone if len(gone) else None

    def active(self):
        # type: () -> tuple
        """The confirmed tracks updated at the last frame: (ids [K], boxes xyxy [K,4], class ids [K])."""
        T = self.tracks
        m = (T.state == TRACKED) & (T.ids > 0) & (T.t_seen == self.t_last)
        return T.ids[m], self.boxes()[m], T.cls[m]
