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
