"""Tracking in a scoring run: the track ids of `detect --track`, continuous across a video's segments.

A tracked run scores each video's segments in order on one worker, which keeps the video's TrackStep (its tracker)
from one segment to the next and drops it after the last one (`VideoTrackers`). A segment task's "track" entry says
how: {tracker, keep_conf, restart, first_id, last}. `restart` starts a new tracker whose first id is `first_id`: at a
video's first segment, and where the ids restart (the segment whose worker died, or the first one an interrupted run
left); otherwise the worker goes on with the tracker it holds, and answers `track_lost` where it holds none (it was
restarted since the video's previous segment).
"""


def track_settings(tracker, conf):
    # type: (str, float) -> tuple
    """({tracker, keep_conf}, the detector's score threshold) of a tracked run, as `detect --track` has them: the
    detector reports down to the tracker's low threshold (ByteTrack continues tracks with low-score detections) and a
    detection is kept where its score reaches `conf` or it continues a confirmed track."""
    from ..tracking import TrackerConfig
    return {"tracker": tracker, "keep_conf": conf}, min(conf, TrackerConfig().low)


def restarted(task, first_id):
    # type: (dict, int) -> dict
    """`task` scored with a new tracker whose ids start at `first_id` (after those the video's ids reached)."""
    return dict(task, track=dict(task["track"], restart=True, first_id=int(first_id)))


def not_scored(task, worker):
    # type: (dict, str) -> dict
    """The result of a segment left unscored because an earlier one of its video failed (its tracker is gone)."""
    return dict(task, worker=worker, frames=0, rows=0, seconds=0.0,
                error="not scored: an earlier segment of the video failed")


class VideoTrackers(object):
    """A worker's trackers, one per video it is scoring: video id -> [TrackStep, the frame its next segment starts
    at]. Held between a video's segments, dropped after its last one or a failure."""

    def __init__(self):
        self.videos = {}

    def holds(self, task):
        # type: (dict) -> bool
        """Whether this worker can score `task`: it starts a tracker, or holds the video's up to the task's first
        frame."""
        held = self.videos.get(task["video"])
        return bool(task["track"]["restart"]) or (held is not None and held[1] == task["start"])

    def steps(self, task):
        """The pipeline's `steps(source, draw)` for the task's segment: the video's TrackStep (a new one on restart)."""
        from ..tracking.steps import track_step
        tr, video = task["track"], task["video"]

        def steps(source, draw):
            if tr["restart"] or video not in self.videos:
                step = track_step(source, tr["tracker"], keep_conf=tr["keep_conf"])
                step.tracker.next_id = int(tr["first_id"])
                self.videos[video] = [step, None]
            return [self.videos[video][0]]

        return steps

    def next_id(self, video):
        # type: (str) -> int
        """The id the video's tracker gives next (every id it gave is below it)."""
        return int(self.videos[video][0].tracker.next_id)

    def finish(self, task, frames, ok):
        """After the task's segment: keep the video's tracker for its next segment, or drop it (its last segment, or
        a failure)."""
        held = self.videos.get(task["video"])
        if ok and held is not None and not task["track"]["last"]:
            held[1] = task["start"] + frames
        else:
            self.videos.pop(task["video"], None)
