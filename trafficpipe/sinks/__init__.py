"""Outputs of a run, one set per source: annotated video, JSON lines, annotated images, detection-results text, and
the live view (a window on the screen)."""
from .base import Sink
from .display import DisplaySink, LiveView
from .files import ImageSink, JsonlSink, TxtSink, VideoSink, make_sinks, SINK_KINDS

__all__ = ["Sink", "DisplaySink", "LiveView", "ImageSink", "JsonlSink", "TxtSink", "VideoSink", "make_sinks", "SINK_KINDS"]
