"""A tracked run on Ray: each video's segments in order on one actor, which keeps the video's tracker between them
(track.py).

The driver keys a video to the least loaded actor when it hands out the video's first segment, and hands that actor
the video's next segment only once the previous one has returned; an actor has up to `per_actor` videos at once, so
the parallelism comes from many videos. Where the actor died before answering (or was restarted since the video's
previous segment and so lost its tracker), the video goes on from the lost segment, in order, on another actor, with
a new tracker whose ids count on from the highest the video had: the ids restart there (a retry in the manifest).
A video whose segment failed is not scored further.
"""
import collections

from .track import not_scored, restarted

LOST = "the worker was restarted since the video's previous segment (its tracker is gone)"


def score_in_order(runner, tasks, on_result, on_retry):
    """`runner.score` (cluster.RayRunner) of a tracked run's tasks, each video's in the order they come."""
    ray = runner.ray
    left = collections.OrderedDict()  # video -> its tasks not handed out, in order
    for t in tasks:
        left.setdefault(t["video"], collections.deque()).append(t)
    waiting = collections.deque(left)  # videos not started
    inflight = {}  # ObjectRef -> (task, actor index)
    load = [0] * len(runner.actors)
    attempts = collections.Counter()
    next_ids = {}  # video -> the id its tracker gives next

    def submit(t, i):
        inflight[runner.actors[i].score.remote(t)] = (t, i)
        load[i] += 1

    def other_than(i):
        """The least loaded actor, another than `i` where there is one."""
        return min(range(len(load)), key=lambda j: (j == i, load[j], j))

    while waiting or inflight:
        while waiting and min(load) < runner.per_actor:
            submit(left[waiting.popleft()].popleft(), load.index(min(load)))
        done, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
        for ref in done:
            t, i = inflight.pop(ref)
            load[i] -= 1
            vid = t["video"]
            res, why = runner.outcome(ref, t, i)
            if res is not None and res.get("track_lost"):
                res, why = None, LOST
            if res is None:
                if runner.died(t, i, why, attempts, on_result, on_retry):
                    submit(restarted(t, next_ids.get(vid, t["track"]["first_id"])), other_than(i))
                    continue
            else:
                on_result(res)
            if res is None or res.get("error"):
                for rest in left.pop(vid, ()):
                    on_result(not_scored(rest, runner.workers[i]))
                continue
            if res.get("next_track_id") is not None:
                next_ids[vid] = res["next_track_id"]
            if left.get(vid):
                submit(left[vid].popleft(), i)
            else:
                left.pop(vid, None)
