"""The embedded runner: a scoring run's work done in this process with one detector (no Ray)."""
from ..errors import TrafficpipeError
from .probe import probe_video
from .track import not_scored
from .worker import SegmentScorer, merge_video


class LocalRunner(object):
    """Runs probes, segments and merges here, one after the other, through the same worker code as a cluster."""

    name = "local"

    def __init__(self, store_uri, detector_kwargs, batch=1):
        self.scorer = SegmentScorer(store_uri, detector_kwargs, batch, log_level=None)
        if self.scorer.error:
            raise TrafficpipeError(self.scorer.error)
        self.store_uri = store_uri
        self.workers = [self.scorer.name]

    def probe(self, paths):
        return [probe_video(p) for p in paths]

    def score(self, tasks, on_result, on_retry):
        """The tasks in their order (a video's segments one after the other: one tracker per video goes on from one
        to the next); in a tracked run, the segments after a failed one of the same video are left unscored."""
        failed = set()
        for t in tasks:
            if t.get("track") and t["video"] in failed:
                on_result(not_scored(t, self.scorer.name))
                continue
            res = self.scorer.score(t)
            if res.get("error"):
                failed.add(t["video"])
            on_result(res)

    def submit_merge(self, job):
        return merge_video(self.store_uri, **job)

    def gather(self, handles):
        return list(handles)

    def finished(self, handles):
        """[(index in `handles`, result)] of the merges done: all of them here (a merge runs when it is submitted)."""
        return list(enumerate(handles))

    def close(self):
        self.scorer.close()
