"""A scoring plan: each video cut into keyframe-aligned segments, named so that a re-run finds what is done."""
import hashlib
import json
import os

from ..sources.base import source_name

#: default least frames per segment (a minute of 30 fps video): few pipeline starts per video, many segments per archive
SEGMENT_FRAMES = 1800


def video_id(path):
    # type: (str) -> str
    """The output name of a video: its file name's stem and 8 hex digits of its absolute path (files of the same name in
    different folders get different outputs; the same file the same one on every run)."""
    return "%s-%s" % (source_name(path), hashlib.sha1(os.path.abspath(path).encode("utf-8")).hexdigest()[:8])


def config_key(detector_kwargs, tracking=None):
    # type: (dict, dict) -> str
    """12 hex digits naming what decides a run's detections (model file, engine, precision, thresholds, classes) and
    track ids (`tracking`: tracker and kept score; None without ids): outputs made with another key are not
    reused."""
    kw = dict(detector_kwargs)
    if tracking:
        kw["tracking"] = tracking
    kw.pop("threads", None)  # thread counts change nothing but speed
    digest = model_digest(kw.get("model"))
    if kw.get("model"):
        kw["model"] = os.path.basename(str(kw["model"]))
    if digest:  # another model under the same name (retrained in place, another folder) is another configuration
        kw["model_sha256"] = digest
    return hashlib.sha1(json.dumps(kw, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:12]


def model_digest(model):
    # type: (str) -> str
    """SHA-256 of the model file `--model` names (None: the default model), or None where it is not found here
    (workers elsewhere may hold it; its name then stands for it)."""
    from ..engines.onnx_graph import file_sha256
    from ..errors import TrafficpipeError
    from ..models.registry import find_model
    try:
        return file_sha256(find_model(model))
    except (TrafficpipeError, IOError, OSError):
        return None


def plan_segments(info, segment_frames=SEGMENT_FRAMES):
    # type: (dict, int) -> list
    """[(start, stop)] of a probed video (`probe.probe_video`): keyframe-aligned (`segments.plan_chunks`), each at least
    `segment_frames` long but the last; the whole file as one segment where its keyframes or length are unknown (stop
    None: to its end; a frame count without a keyframe table is the container's estimate, which may fall short)."""
    from ..sources.segments import plan_chunks
    n = info.get("frames")
    if not n or not info.get("keyframes"):
        return [(0, None)]
    return plan_chunks(info["keyframes"], n, max(1, int(segment_frames)))


def segment_name(start, stop):
    # type: (int, int) -> str
    return "%09d-%s.parquet" % (start, "end" if stop is None else "%09d" % stop)
