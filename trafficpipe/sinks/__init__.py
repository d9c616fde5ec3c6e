"""Outputs of a run, one set per source: annotated video, JSON lines, annotated images, detection-results text."""
from .base import Sink
from .files import ImageSink, JsonlSink, TxtSink, VideoSink, make_sinks, SINK_KINDS

__all__ = ["Sink", "ImageSink", "JsonlSink", "TxtSink", "VideoSink", "make_sinks", "SINK_KINDS"]
