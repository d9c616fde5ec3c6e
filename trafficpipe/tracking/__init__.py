"""Multi-object tracking (ByteTrack, OC-SORT) over one source's frames in order, and its MOTChallenge files and
scores."""
from .bytetrack import ByteTracker, TrackerConfig

TRACKERS = ("bytetrack", "ocsort")


def make_tracker(name="bytetrack", config=None):
    """A tracker by name (`bytetrack`, `ocsort`); `config` a TrackerConfig or OCSortConfig (None: the defaults)."""
    if name == "bytetrack":
        return ByteTracker(config)
    if name == "ocsort":
        from .ocsort import OCSortTracker
        return OCSortTracker(config)
    from ..errors import TrafficpipeError
    raise TrafficpipeError("unknown tracker %r; choose from %s" % (name, ", ".join(TRACKERS)))
