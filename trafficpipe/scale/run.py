"""A scoring run: which videos and segments are left to do, handing them to a runner (local or Ray), merging each
finished video, keeping the manifest and the progress bar, and the summary."""
import os
import time

from ..log import logger
from .manifest import Manifest
from .plan import config_key, plan_segments, segment_name, video_id
from .worker import META_KEY, segment_meta


class ScoreRun(object):
    """Score `paths` into `store` with `runner` (local.LocalRunner or cluster.RayRunner); `tracking` {tracker,
    keep_conf} (track.track_settings) for track ids, None without."""

    def __init__(self, paths, store, runner, detector_kwargs, segment_frames=1800, bar=None, tracking=None,
                 manifest=None):
        self.paths = list(paths)
        self.store = store
        self.runner = runner
        self.tracking = tracking
        self.config = config_key(detector_kwargs, tracking)
        self.segment_frames = segment_frames
        self.bar = bar
        self.manifest = manifest if manifest is not None else Manifest(store)  # the output folder's, read once
        self.manifest.run = {"config": self.config, "model": os.path.basename(str(detector_kwargs.get("model") or
                                                                                    "default")),
                             "runner": runner.name, "workers": list(runner.workers)}
        if tracking:
            self.manifest.run["tracker"] = tracking["tracker"]
        self.videos = {}  # video id -> {info, segments [(start, stop)], left, seconds, workers}
        self.frames_scored = 0
        self.segments_scored = 0
        self.retries = 0

    def _reusable(self, path):
        """The previous run's entry of `path` where its output stands and the file is unchanged (not re-read). A run
        stopped between putting a video's file in place and recording it left it `running`: its file is whole (it
        is put in place complete), so it is taken as ok from what the file records."""
        prev = self.manifest.previous.get(path)
        if not prev or prev.get("status") not in ("ok", "running") or prev.get("config") != self.config:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        if st.st_size != prev.get("size") or st.st_mtime_ns != prev.get("mtime_ns"):
            return None
        out = self.store.path(prev["video"] + ".parquet")
        meta = self.store.read_metadata(out).get(META_KEY) or {}
        if meta.get("sha256") != prev.get("sha256") or meta.get("config") != self.config:
            return None
        if prev.get("status") == "running":
            return dict(prev, status="ok", error=None, frames=meta.get("frames"), detections=self.store.num_rows(out),
                        bytes=self.store.size(out), output=prev["video"] + ".parquet")
        return prev

    def run(self):
        # type: () -> dict
        t0 = time.time()
        man = self.manifest
        man.run["started"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0))
        todo, other, changed = [], [], []
        for p in self.paths:
            prev = self._reusable(p)
            if prev is not None:
                man.entries[p] = dict(prev, reused=True)
            else:
                todo.append(p)
                last = man.previous.get(p) or {}
                if last.get("status") == "ok":  # its output is replaced: another configuration, or the file changed
                    (other if last.get("config") != self.config else changed).append(last)
        for p, prev in man.previous.items():  # videos of earlier runs that this one does not name stay listed
            if p not in man.entries and p not in todo:
                man.entries[p] = dict(prev, reused=False)  # (`reused` says what this run did with a video)
        if other:
            logger.info("score: replacing the output{} of {} video(s) scored with another configuration ({}; this "
                        "run: {}) as each is finished: {}{}", "" if len(other) == 1 else "s", len(other),
                        ", ".join(sorted(set(str(e.get("config")) for e in other))), self.config,
                        ", ".join(str(e.get("output")) for e in other[:4]), ", ..." if len(other) > 4 else "")
        if changed:
            logger.info("score: replacing the output{} of {} video(s) whose file changed since it was scored (or "
                        "whose output is gone) as each is finished: {}{}", "" if len(changed) == 1 else "s",
                        len(changed), ", ".join(str(e.get("output")) for e in changed[:4]),
                        ", ..." if len(changed) > 4 else "")
        tasks = []
        for info in self.runner.probe(todo) if todo else []:
            e = man.entry(info["path"])
            e.update(video=video_id(info["path"]), config=self.config, reused=False)
            if info.get("error"):
                e.update(status="failed", error=info["error"])
                logger.error("{}", info["error"])
                continue
            e.update((k, info[k]) for k in ("size", "mtime_ns", "sha256", "frames", "fps", "width", "height"))
            e.update(status="running", error=None, seconds=0.0, workers=[], retries=[])
            segs = plan_segments(info, self.segment_frames)
            mine = self._segment_tasks(e["video"], info, segs)
            self.videos[e["video"]] = {"info": info, "entry": e, "segments": segs, "left": len(mine)}
            if self.tracking:  # the frames where the ids restart: here, where an interrupted run left the video
                e["track_restarts"] = [mine[0]["start"]] if mine and mine[0]["start"] else []
            tasks.extend(mine)
            e["segments"] = len(segs)
        man.write()
        if self.bar is not None:
            self.bar.reset(total=sum(self._task_frames(t) for t in tasks) or None)
        merges = []
        try:
            merges.extend(self.runner.submit_merge(self._merge_job(vid)) for vid, v in self.videos.items()
                          if not v["left"])
            self._collect(merges)

            def on_result(res):
                merges.extend(self._on_result(res))
                self._collect(merges)
            self.runner.score(tasks, on_result, self._on_retry)
            for res in self.runner.gather(merges):
                self._on_merged(res)
        except BaseException:  # Ctrl-C or a lost cluster: what is committed stays, the manifest says how far it got
            try:
                self._collect(merges)  # a merge done just before: its file is in place, so it is listed as ok
            except Exception as e:  # (a lost cluster): those videos stay listed as running
                logger.debug("collecting the finished merges after the stop: {}", e)
            man.run["interrupted"] = True
            man.write()
            raise
        wall = time.time() - t0
        entries = [man.entries[p] for p in self.paths if p in man.entries]
        ok = [e for e in entries if e.get("status") == "ok"]
        failed = [e for e in entries if e.get("status") != "ok"]
        summary = {"videos": len(entries), "ok": len(ok), "failed": len(failed),
                   "reused": sum(1 for e in ok if e.get("reused")), "segments_scored": self.segments_scored,
                   "frames_scored": self.frames_scored, "retries": self.retries, "wall_s": round(wall, 3),
                   "fps": round(self.frames_scored / wall, 2) if wall > 0 else 0.0}
        if all(v["entry"].get("status") == "ok" for v in self.videos.values()):  # every segment is merged
            self.store.delete_dir(self.store.path("segments", self.config))
            self.store.delete_dir_if_empty(self.store.path("segments"))
        man.run.update(finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), summary=summary)
        man.write()
        return summary

    def _segment_tasks(self, vid, info, segs):
        """The tasks of a video's segments that no earlier run committed (of this file's content: a file replaced
        under the same name starts afresh). Tracked, the segments from the first such one on, in order: that one
        starts a tracker whose ids go on after those of the committed segments."""
        tasks, next_id = [], 1
        path = info["path"]
        for k, (start, stop) in enumerate(segs):
            seg_path = self._segment_path(vid, info, start, stop)
            meta = None if tasks and self.tracking else segment_meta(self.store, seg_path)
            if meta is not None:  # committed by an earlier run
                next_id = max(next_id, int(meta.get("next_track_id") or 1))
                continue
            t = {"video": vid, "path": path, "start": start, "stop": stop, "segment_path": seg_path,
                 "config": self.config}
            if self.tracking:
                t["track"] = dict(self.tracking, restart=not tasks, first_id=next_id, last=k == len(segs) - 1)
            tasks.append(t)
        return tasks

    def _task_frames(self, task):
        # type: (dict) -> int
        """Frames a task will score, for the progress bar: to the end of a file without a keyframe table, the
        container's frame count (an estimate; 0 where it gives none)."""
        if task["stop"] is not None:
            return task["stop"] - task["start"]
        return max(0, int(self.videos[task["video"]]["info"].get("frames") or 0) - task["start"])

    def _segment_dir(self, video, info):
        """segments/<config>/<video>-<12 hex of the file's SHA-256>: the folder of a video's segment files"""
        return self.store.path("segments", self.config, "%s-%s" % (video, (info.get("sha256") or "unknown")[:12]))

    def _segment_path(self, video, info, start, stop):
        """<segment folder>/<start>-<stop>.parquet"""
        return self._segment_dir(video, info) + "/" + segment_name(start, stop)

    def _merge_job(self, vid):
        v = self.videos[vid]
        return {"video": vid, "info": v["info"], "config": self.config,
                "tracker": self.tracking["tracker"] if self.tracking else None,
                "segment_paths": [((a, b), self._segment_path(vid, v["info"], a, b)) for a, b in v["segments"]],
                "segment_dir": self._segment_dir(vid, v["info"])}

    def _on_result(self, res):
        """One segment's result: the merge to submit when it was its video's last ([] otherwise)."""
        v = self.videos[res["video"]]
        e = v["entry"]
        v["left"] -= 1
        e["seconds"] = round(e.get("seconds", 0.0) + res.get("seconds", 0.0), 3)
        if res["worker"] not in e["workers"]:
            e["workers"].append(res["worker"])
        if self.bar is not None:
            self.bar.update((res["stop"] - res["start"]) if res["stop"] is not None else res["frames"])
        if res.get("error"):
            if e["status"] != "failed":  # the first error is the video's
                logger.error("{}: {}", os.path.basename(e["path"]), res["error"])
                e.update(status="failed", error=res["error"])
        else:
            self.frames_scored += res["frames"]
            self.segments_scored += 1
        self._postfix()
        self.manifest.write(every=30.0)
        if v["left"] == 0 and e["status"] != "failed":
            return [self.runner.submit_merge(self._merge_job(res["video"]))]
        return []

    def _on_retry(self, task, worker, why, again):
        self.retries += 1
        e = self.videos[task["video"]]["entry"]
        e["retries"].append({"segment": [task["start"], task["stop"]], "worker": worker, "error": why,
                             "scored_again": again})
        if again and task.get("track") and task["start"]:  # scored again with a new tracker: new ids from there on
            e["retries"][-1]["ids_restart"] = True
            if task["start"] not in e["track_restarts"]:
                e["track_restarts"].append(task["start"])
        logger.warning("{}: the worker scoring frames {}-{} died ({}); {}", os.path.basename(task["path"]),
                       task["start"], task["stop"], why, "scoring them again" if again else "giving up")

    def _collect(self, merges):
        """Take the merges done by now out of `merges` and record them: a video is ok in the manifest (and the
        progress bar) as soon as its file is in place, also in a run stopped later."""
        done = self.runner.finished(merges)
        if not done:
            return
        taken = set(i for i, _ in done)
        merges[:] = [h for i, h in enumerate(merges) if i not in taken]
        for _, res in done:
            self._on_merged(res)
        self.manifest.write()

    def _on_merged(self, res):
        e = self.videos[res["video"]]["entry"]
        if res.get("error"):
            e.update(status="failed", error=res["error"])
            logger.error("{}: {}", os.path.basename(e["path"]), res["error"])
        else:
            e.update(status="ok", error=None, frames=res["frames"], detections=res["rows"], bytes=res["bytes"],
                     output=res["video"] + ".parquet")
        self._postfix()

    def _postfix(self):
        if self.bar is not None:
            es = [self.manifest.entries[p] for p in self.paths if p in self.manifest.entries]
            self.bar.set_postfix_str("videos ok %d failed %d of %d" % (
                sum(1 for e in es if e.get("status") == "ok"), sum(1 for e in es if e.get("status") == "failed"),
                len(self.paths)), refresh=False)
