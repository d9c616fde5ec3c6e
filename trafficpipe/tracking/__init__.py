"""Multi-object tracking (ByteTrack) over one source's frames in order, and its MOTChallenge files and scores."""
from .bytetrack import ByteTracker, TrackerConfig

TRACKERS = ("bytetrack",)


def make_tracker(name="bytetrack", config=None):
    """A tracker by name (`bytetrack`)."""
    if name == "bytetrack":
        return ByteTracker(config)
    from ..errors import TrafficpipeError
    raise TrafficpipeError("unknown tracker %r; choose from %s" % (name, ", ".join(TRACKERS)))
