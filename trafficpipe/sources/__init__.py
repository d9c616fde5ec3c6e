"""Frame sources: video files, image sets, cameras, network streams, GStreamer pipelines, jetson_utils."""
from .base import Source, SourceState
from .factory import open_source

__all__ = ["Source", "SourceState", "open_source"]
