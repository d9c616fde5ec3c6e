"""The pipeline's tracking and counting steps for each source (Pipeline(steps=...))."""
import os

from ..sources.images import ImageSource
from . import make_tracker, tracker_classes
from .step import TrackStep


def tracking_steps(out_dir=None, tracker="bytetrack", config=None, keep_conf=0.0, regions=None, image_fps=30.0):
    """`steps(source, draw)` for Pipeline: a TrackStep per source and, with counting `regions` (counting.spec), a
    CountStep writing `<out_dir>/<name>.counts.json`. Video files and streams run on their timestamps; image sets
    (no timestamps) at `image_fps`. A tracker name or config that do not go together is refused here, at once."""
    tracker_classes(tracker, config)

    def steps(source, draw):
        track = track_step(source, tracker, config, keep_conf, draw, image_fps)
        out = [track]
        if regions:
            from ..counting.fit import check_sources
            from ..counting.step import CountStep
            check_sources(regions, [source])  # a stream not read yet: at its first frame (CountStep)
            path = os.path.join(out_dir, source.name + ".counts.json") if out_dir else None
            out.append(CountStep(regions, path, source.name, track.time_of, draw, frame_size=source.frame_size))
        return out

    return steps


def track_step(source, tracker="bytetrack", config=None, keep_conf=0.0, draw=False, image_fps=30.0):
    """The TrackStep of `source`, with a tracker of its own: on the source's timestamps, or at `image_fps` for image
    sets (no timestamps)."""
    fps = image_fps if isinstance(source, ImageSource) or not source.fps else None
    cfg = _config(tracker, config)
    if cfg.frame_interval is None and (fps or source.fps):  # the Kalman step's unit: one nominal frame
        cfg.frame_interval = 1.0 / float(fps or source.fps)
    return TrackStep(make_tracker(tracker, cfg), keep_conf, draw, fps=fps)


def _config(tracker, config):
    """A fresh copy of `config` (or the tracker's defaults): each source's tracker gets its own."""
    cls = tracker_classes(tracker, config)[1]
    return cls(**(config.as_dict() if config is not None else {}))
