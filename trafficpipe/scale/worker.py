"""The work of a scoring run's workers: score one segment through the pipeline and commit its Parquet file; merge a
video's segment files into its one Parquet file. Plain functions and classes: the local run calls them here, the
cluster run wraps them as Ray actors and tasks."""
import os
import socket
import time

from ..errors import SourceError, TrafficpipeError, first_line
from .track import VideoTrackers

META_KEY = "trafficpipe"


def worker_name():
    # type: () -> str
    return "%s:%d" % (socket.gethostname(), os.getpid())


def score_segment(detector, path, start, stop, batch=1, steps=None):
    """Score frames [start, stop) of the video file `path` (stop None: to its end) with the pipeline: a RowsSink holding
    their detections and its frame count; `steps` the pipeline's in-order steps (a tracker: the rows get its track
    ids). SourceError where the segment cannot be decoded whole."""
    from ..pipeline import Pipeline
    from ..run_config import RunConfig
    from ..sources.segment import VideoSegmentSource
    from .rows import RowsSink
    src = VideoSegmentSource(path, start, stop)
    src.open()
    sink = RowsSink(start, track_ids=steps is not None)
    Pipeline([src], detector, RunConfig.defaults(batch=batch), sinks=[[sink]], draw=False, steps=steps).run()
    if src.truncated or src.error:
        raise SourceError(src.error or "cannot decode frames %d-%s of %s" % (start, stop, path))
    return sink


class SegmentScorer(object):
    """Holds one Detector (built once: on a cluster, a long-lived Ray actor per GPU or per N CPUs) and scores segment
    tasks with it. A task: {video, path, start, stop, segment_path, config} and, in a tracked run, track (track.py:
    the worker keeps each video's tracker between its segments). Every result says which worker it was; errors come
    back as one line in the result, never raised (a raised one would be the worker's death)."""

    def __init__(self, store_uri, detector_kwargs, batch=1, log_level="WARNING"):
        from ..detector import Detector
        from ..log import quiet_native_logs, setup_logging
        from .store import OutputStore
        if log_level:
            setup_logging(log_level)
            quiet_native_logs()
        self.batch = batch
        self.name = worker_name()
        self.detector = None
        self.trackers = VideoTrackers()
        self.error = None  # why this worker cannot score (one line), kept for `ready()` rather than raised
        try:
            self.store = OutputStore(store_uri)
            self.detector = Detector(**detector_kwargs)
        except TrafficpipeError as e:
            self.error = str(e)
        except Exception as e:
            self.error = "%s: %s" % (type(e).__name__, first_line(e))

    def ready(self):
        # type: () -> tuple
        """(this worker's name, None) once its detector is built; (name, the one-line error) where it could not be."""
        return self.name, self.error

    def score(self, task):
        # type: (dict) -> dict
        """Score one segment and commit its file: the task with frames, rows, seconds, worker and error (None); in a
        tracked run also next_track_id (the id the video's tracker gives next), or track_lost where this worker does
        not hold the tracker the task goes on with (nothing is scored)."""
        t0 = time.time()
        out = dict(task, worker=self.name, frames=0, rows=0, error=None)
        track = task.get("track")
        if track and not self.trackers.holds(task):
            return dict(out, track_lost=True, seconds=0.0)
        try:
            if self.detector is None:
                raise TrafficpipeError(self.error)
            steps = self.trackers.steps(task) if track else None
            sink = score_segment(self.detector, task["path"], task["start"], task["stop"], self.batch, steps)
            table = sink.table(task["video"])
            meta = {"video": task["video"], "path": task["path"], "start": task["start"], "stop": task["stop"],
                    "frames": sink.frames, "config": task["config"], "worker": self.name}
            if track:
                meta["next_track_id"] = out["next_track_id"] = self.trackers.next_id(task["video"])
            self.store.write_table(task["segment_path"], table, {META_KEY: meta})
            out.update(frames=sink.frames, rows=table.num_rows)
        except TrafficpipeError as e:
            out["error"] = str(e)
        except Exception as e:  # an unexpected library failure of this segment: reported, the run goes on
            out["error"] = "%s: %s" % (type(e).__name__, first_line(e))
        if track:
            self.trackers.finish(task, out["frames"], not out["error"])
        out["seconds"] = time.time() - t0
        return out

    def close(self):
        if self.detector is not None:
            self.detector.close()


def segment_meta(store, path):
    # type: (object, str) -> dict
    """What a committed segment file records (frames, next_track_id, ...); None where it is absent or not one of
    ours."""
    meta = store.read_metadata(path).get(META_KEY) if store.exists(path) else None
    return meta if isinstance(meta, dict) and meta.get("frames") is not None else None


def merge_video(store_uri, video, segment_paths, info, config, tracker=None, segment_dir=None):
    """Concatenate a video's committed segment files (in order) into <video>.parquet (written whole, then the segment
    folder `segment_dir` removed): {video, frames, rows, bytes} or {video, error}. The segments must cover the file
    without gap or overlap: each one's recorded frames are checked against its planned range. With `tracker` (its name) the rows
    have a track_id column."""
    import pyarrow as pa
    from .rows import schema
    from .store import OutputStore
    try:
        store = OutputStore(store_uri)
        tables, frames, nxt = [], 0, 0
        for (start, stop), path in segment_paths:
            meta = store.read_metadata(path).get(META_KEY) or {}
            n = meta.get("frames")
            if start != nxt or n is None or (stop is not None and n != stop - start):
                raise SourceError("segment %d-%s of %s does not continue the frames before it" % (start, stop, video))
            tables.append(store.read_table(path).replace_schema_metadata(None).cast(schema(tracker is not None)))
            frames += n
            nxt = start + n
        table = pa.concat_tables(tables) if tables else schema(tracker is not None).empty_table()
        final = store.path(video + ".parquet")
        keep = dict((k, info.get(k)) for k in ("path", "size", "sha256", "fps", "width", "height"))
        keep.update(video=video, frames=frames, config=config)
        if tracker is not None:
            keep["tracker"] = tracker
        store.write_table(final, table, {META_KEY: keep})
        if segment_dir:
            store.delete_dir(segment_dir)
        return {"video": video, "frames": frames, "rows": table.num_rows, "bytes": store.size(final)}
    except Exception as e:
        return {"video": video, "error": first_line(e) if isinstance(e, TrafficpipeError) else
                "%s: %s" % (type(e).__name__, first_line(e))}
