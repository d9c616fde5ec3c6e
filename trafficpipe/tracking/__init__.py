"""Multi-object tracking (ByteTrack, OC-SORT) over one source's frames in order, and its MOTChallenge files and
scores."""
from .bytetrack import ByteTracker, TrackerConfig

TRACKERS = ("bytetrack", "ocsort")


def tracker_classes(name, config=None):
    # type: (str, object) -> tuple
    """(tracker class, config class) of the tracker called `name`; TrafficpipeError (one line) for an unknown name or
    a `config` of the other tracker's kind."""
    from ..errors import TrafficpipeError
    if name == "bytetrack":
        classes = (ByteTracker, TrackerConfig)
    elif name == "ocsort":
        from .ocsort import OCSortConfig, OCSortTracker
        classes = (OCSortTracker, OCSortConfig)
    else:
        raise TrafficpipeError("unknown tracker %r; choose from %s" % (name, ", ".join(TRACKERS)))
    if config is not None and not isinstance(config, classes[1]):
        raise TrafficpipeError("config %s is not for the %s tracker (it takes %s)" % (
            type(config).__name__, name, classes[1].__name__))
    return classes


def make_tracker(name="bytetrack", config=None):
    """A tracker by name (`bytetrack`, `ocsort`); `config` a TrackerConfig or OCSortConfig (None: the defaults)."""
    return tracker_classes(name, config)[0](config)
