"""The tracker as an in-order pipeline step: track ids on a source's detections, frame by frame."""
import numpy as np

from ..draw import draw_tracks
from ..engines.device_frames import host_image
from ..pipeline.steps import FrameStep


class TrackStep(FrameStep):
    """Runs `tracker` on each frame's detections in order and sets `detections.track_ids`.

    The detector runs with a lower score threshold than the user's (ByteTrack continues tracks with low-score
    detections); a detection is kept when its score reaches `keep_conf` or it belongs to a confirmed track, so what
    was reported without tracking still is. Time: the frame's timestamp (`pts`, seconds), or `index / fps` when `fps`
    is given (image sets; the frame's `pts` is then set to it). With `draw`, draws boxes, ids and each track's last
    `trail` positions (box bottom centre).
    """

    name = "track"

    def __init__(self, tracker, keep_conf=0.0, draw=False, trail=20, fps=None):
        self.tracker = tracker
        self.keep_conf = float(keep_conf)
        self.draw = draw
        self.trail = int(trail)
        self.fps = fps
        self.trails = {}  # track id -> [(x, y)], oldest first
        self._seen = {}  # track id -> frame index it was last seen

    def time_of(self, frame):
        # type: (object) -> float
        if self.fps or frame.pts is None:
            return frame.index / float(self.fps or 30.0)
        return float(frame.pts)

    def process(self, frame):
        d = frame.detections
        t = frame.pts = self.time_of(frame)  # every output (JSON lines, tracks, counts) gives the tracker's time
        ids = self.tracker.update(d.boxes, d.scores, d.class_ids, t)
        d.track_ids = ids
        keep = (d.scores >= self.keep_conf) | (ids > 0)
        if not keep.all():
            d = frame.detections = d.select(keep)
        if self.draw:
            self._update_trails(frame.index, d)
            image = host_image(frame)
            if image is not None:
                draw_tracks(image, d, self.trails)

    def _update_trails(self, index, d):
        ids = d.track_ids
        if ids is None or not len(ids):
            return
        b = d.boxes
        xs = ((b[:, 0] + b[:, 2]) / 2).tolist()
        ys = b[:, 3].tolist()
        for tid, x, y in zip(ids.tolist(), xs, ys):
            if tid > 0:
                pts = self.trails.setdefault(tid, [])
                pts.append((x, y))
                if len(pts) > self.trail:
                    del pts[0]
                self._seen[tid] = index
        if index % 30 == 0:  # forget trails of tracks gone for a while
            for tid in [t for t, i in self._seen.items() if index - i > 2 * self.trail]:
                del self._seen[tid]
                self.trails.pop(tid, None)
