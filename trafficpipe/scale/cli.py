"""`trafficpipe score SOURCES... --out DIR [--ray auto|ADDRESS]`: score an archive of videos into Parquet files."""
import os

from ..errors import SourceError, TrafficpipeError
from ..log import logger


def add_parser(sub):
    from ..cli_values import non_empty
    from ..commands.options import add_model_options, add_track_options
    p = sub.add_parser(
        "score", help="score an archive of video files into Parquet, here or on a Ray cluster",
        description="Score video files (files, folders, globs, or .txt files listing them) into one Parquet file "
                    "per video (rows: video, frame, timestamp, class, score, box; track_id with --track) and "
                    "manifest.json in --out. Re-running the same command skips what is done. Each video is cut into "
                    "keyframe-aligned segments, scored here (default) or, with --ray, by Ray actors across a cluster "
                    "(docs/scale.md).",
        epilog="Exit status: 0 when every video was scored; 2 on bad input or when any video failed (the others are "
               "written, the manifest says why). Needs the scale extra: pip install 'trafficpipe[scale]'.")
    p.add_argument("sources", nargs="+", metavar="SOURCE")
    p.add_argument("--out", required=True, type=non_empty, help="output folder: a path or a pyarrow file system URI (s3://...)")
    p.add_argument("--ray", default=None, metavar="ADDRESS", type=non_empty,
                   help="run on a Ray cluster: auto (the one started on this machine with `ray start`) or its "
                        "address HOST:PORT (default: no Ray, this machine only)")
    add_model_options(p)
    add_track_options(p.add_argument_group("tracking"),
                      "a track_id column; each video's segments are scored in order by one worker, which keeps its "
                      "tracker from one segment to the next, so the ids are those of `detect --track`")
    g = p.add_argument_group("run")
    g.add_argument("--segment-frames", type=int, default=1800,  # expert
                   help="least frames per segment; segments start on keyframes (default %(default)s)")
    g.add_argument("--cpus-per-actor", type=int, default=1,  # expert
                   help="CPUs per scoring actor on clusters without GPUs, its ONNX Runtime threads (default 1)")
    g.add_argument("--actors", type=int, default=0,  # expert
                   help="scoring actors (default 0: one per GPU, else per --cpus-per-actor CPUs of the cluster)")
    g.add_argument("--batch", type=int, default=1, help="frames per inference call (default 1)")  # expert
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args):
    from ..commands.options import detector_kwargs, tracker_name
    from ..commands.detect import progress_bar
    from .inputs import expand_sources
    if args.segment_frames < 1 or args.cpus_per_actor < 1 or args.actors < 0 or args.batch < 1:
        raise TrafficpipeError("--segment-frames, --cpus-per-actor and --batch must be at least 1, --actors 0 or more")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise TrafficpipeError("score writes Parquet with pyarrow: pip install 'trafficpipe[scale]'")
    from .store import OutputStore
    from .run import ScoreRun
    paths = expand_sources(args.sources)
    kw = detector_kwargs(args)
    tracking = None
    tracker = tracker_name(args, args.track)
    if args.track:
        from .track import track_settings
        tracking, kw["conf"] = track_settings(tracker, args.conf)
    if kw.get("model") and os.path.exists(kw["model"]):
        kw["model"] = os.path.abspath(kw["model"])  # workers may start elsewhere
    if args.ray and args.ray != "auto":  # before the output folder is made: a wrong address leaves nothing behind
        from .cluster import check_address
        check_address(args.ray)
    elif not args.ray:  # scored here: the model must be here
        from ..models.registry import find_model
        find_model(kw.get("model"))
    made = "://" not in args.out and not os.path.exists(args.out)
    store = OutputStore(args.out)
    try:
        from .manifest import Manifest
        manifest = Manifest(store)  # a manifest.json of something else is refused before any worker starts
        if args.ray:
            from .cluster import RayRunner
            runner = RayRunner(args.ray, store.uri, kw, args.batch, args.cpus_per_actor, args.actors)
        else:
            from .local import LocalRunner
            runner = LocalRunner(store.uri, kw, args.batch)
    except BaseException:  # no worker to score with (no cluster, a detector that cannot be built): no folder left
        if made and os.path.isdir(args.out) and not os.listdir(args.out):
            os.rmdir(args.out)
        raise
    bar = progress_bar(None, args.no_progress)
    try:
        summary = ScoreRun(paths, store, runner, kw, args.segment_frames, bar, tracking, manifest).run()
    finally:
        if bar is not None:
            bar.close()
        runner.close()
    logger.info("score: {} video(s) ok ({} reused), {} failed; {} frames scored in {:.1f} s = {:.1f} fps{}; outputs "
                "in {}", summary["ok"], summary["reused"], summary["failed"], summary["frames_scored"],
                summary["wall_s"], summary["fps"], (", %d segment(s) scored again after a worker died"
                                                    % summary["retries"]) if summary["retries"] else "", store.uri)
    if summary["failed"]:
        raise SourceError("%d of %d video(s) failed (see %s)" % (summary["failed"], summary["videos"],
                                                                 store.path("manifest.json")))
    return 0
