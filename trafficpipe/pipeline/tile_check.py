"""Whether a tiling plan can matter for a run's sources: video files whose frame size is read up front and is
near the model's shape never need tiles, so the run keeps its batch and its decoder processes' resize."""
from ..sources.video import VideoFileSource, container_size


def video_size(source):
    # type: (object) -> tuple
    """(width, height) of a video file source read from its container without decoding, or None where unknown."""
    return container_size(source.uri) if isinstance(source, VideoFileSource) else None


def plan_for_sources(plan, sources, model_width, model_height):
    # type: (object, list, int, int) -> object
    """`plan`, or None when every source is a video file whose frames the plan would leave whole."""
    if plan is None:
        return None
    for src in sources:
        size = video_size(src)
        if size is None or len(plan.crops(size[0], size[1], model_width, model_height)) > 1:
            return plan
    return None
