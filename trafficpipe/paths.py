"""Where shared data, models and caches live (TRAFFICPIPE_DATA, TRAFFICPIPE_MODELS, TRAFFICPIPE_CACHE)."""
import os


def data_dir():
    # type: () -> str
    """The shared data folder: $TRAFFICPIPE_DATA, default ../shared relative to the working directory."""
    return os.path.abspath(os.environ.get("TRAFFICPIPE_DATA", os.path.join("..", "shared")))


def model_dirs():
    # type: () -> list
    """Folders searched for model files, in order: $TRAFFICPIPE_MODELS, the package's bundled models, $TRAFFICPIPE_DATA/models."""
    dirs = []
    if os.environ.get("TRAFFICPIPE_MODELS"):
        dirs.append(os.path.abspath(os.environ["TRAFFICPIPE_MODELS"]))
    dirs.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "models", "weights"))
    dirs.append(os.path.join(data_dir(), "models"))
    return dirs


def cache_dir():
    # type: () -> str
    """Cache for cleaned ONNX graphs and TensorRT plans: $TRAFFICPIPE_CACHE, default ~/.cache/trafficpipe."""
    d = os.environ.get("TRAFFICPIPE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "trafficpipe")
    return d


def folder_problem(path):
    # type: (str) -> str
    """Why the folder `path` can be neither used nor made ("" when it can): it is a file, what of it exists ends in a
    file, or that is not writable. Creates nothing."""
    full = os.path.abspath(path)
    if os.path.lexists(full) and not os.path.isdir(full):
        return "%s is a file, not a folder" % path
    probe = full
    while not os.path.lexists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        return "%s is a file, not a folder" % probe
    if not os.access(probe, os.W_OK | os.X_OK):
        return "%s is not writable" % probe
    return ""
