"""One URI syntax for every source (like jetson-utils): files, image sets, cameras, streams, GStreamer, csi://,
replay:// (a file played as a live camera); and the frame feed that reads each opened source in a run."""
import os
import re

import cv2

from ..errors import SourceError
from ..log import logger
from ..redact import redact, redact_uri
from .base import source_name
from .feed import SourceFeed
from .images import ImageSource, is_glob, is_image_path
from .jetson import JetsonSource, jetson_utils_available
from .live import STREAM_SCHEMES, LiveSource
from .replay import SCHEME as REPLAY_SCHEME, ReplaySource
from .video import VideoFileSource, decoder


def csi_pipeline(sensor_id=0, width=1280, height=720, fps=30):
    # type: (int, int, int, int) -> str
    """The usual nvarguscamerasrc GStreamer pipeline of a Jetson CSI camera, ending in BGR frames for OpenCV."""
    return ("nvarguscamerasrc sensor-id=%d ! video/x-raw(memory:NVMM), width=%d, height=%d, framerate=%d/1 ! "
            "nvvidconv ! video/x-raw, format=BGRx ! videoconvert ! video/x-raw, format=BGR ! appsink drop=1"
            % (sensor_id, width, height, fps))


def open_source(uri, backend="auto", retries=5, retry_delay=0.5, name=None, connect_live=True):
    """Create and open the source for `uri`; raises SourceError with one clear line.

    `backend`: "auto" (OpenCV, jetson_utils for csi:// where available), "opencv" or "jetson". With
    `connect_live=False` an OpenCV live source is returned unconnected: it connects (with its retries) on its first
    read, in its own capture thread.
    """
    uri = str(uri)
    src = _make(uri, backend, retries, retry_delay, name)
    if decoder()[0] != "opencv" and src.live:
        logger.info("source {}: --decoder {} applies to video files; this live source is read with {}", src.name,
                    decoder()[0], "jetson_utils" if isinstance(src, JetsonSource) else "OpenCV")
    if connect_live or not isinstance(src, LiveSource):
        src.open()
    return src


def check_url(uri):
    # type: (str) -> None
    """SourceError (one line, password masked) for a stream URL that cannot be right: no host, a port that is not a
    number from 1 to 65535, white space. Rejected before any connection attempt or retry."""
    try:
        from urllib.parse import urlsplit
    except ImportError:  # Python 2 only
        return
    why = None
    try:
        parts = urlsplit(uri)
        port = parts.port
        if port is not None and not 0 < port < 65536:
            why = "port %d is out of range" % port
    except ValueError as e:
        why = "bad port" if "port" in str(e).lower() else str(e)
        parts = None
    if why is None and any(c.isspace() for c in uri):
        why = "white space in it"
    if why is None and parts is not None and not parts.hostname and not uri.lower().startswith(("udp://", "rtp://")):
        why = "no host"
    if why:
        raise SourceError("malformed stream URL %s: %s" % (redact_uri(uri), why))


def _make(uri, backend, retries, retry_delay, name):
    live_opts = dict(retries=retries, retry_delay=retry_delay, name=name)
    if backend == "jetson" or (backend == "auto" and uri.startswith("csi://") and jetson_utils_available()):
        return JetsonSource(uri, name=name, live=not os.path.isfile(uri))
    if uri.startswith(REPLAY_SCHEME):  # a file played as a live camera: native rate, looping
        return ReplaySource(uri, name=name)
    if uri.startswith("csi://"):
        sensor = uri[len("csi://"):] or "0"
        if not sensor.isdigit():
            raise SourceError("csi://N takes the camera's sensor number N (csi://0, csi://1), not %r" % sensor)
        sensor = int(sensor)
        return LiveSource(uri, target=csi_pipeline(sensor), backend=cv2.CAP_GSTREAMER, **live_opts)
    if re.match(r"^\d+$", uri):
        return LiveSource(uri, target=int(uri), name=name or "camera%s" % uri, retries=retries, retry_delay=retry_delay)
    if uri.startswith("/dev/video"):
        return LiveSource(uri, target=uri, backend=cv2.CAP_V4L2, **live_opts)
    if uri.lower().startswith(STREAM_SCHEMES):
        check_url(uri)
        return LiveSource(uri, **live_opts)
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    elif "!" in uri and not os.path.exists(uri):  # a GStreamer pipeline (a file called `wow!.mp4` is that file)
        return LiveSource(uri, backend=cv2.CAP_GSTREAMER, **live_opts)
    if os.path.isdir(uri) or is_glob(uri) or is_image_path(uri):
        return ImageSource(uri, name=name)
    if not os.path.exists(uri):
        raise SourceError("source %s does not exist" % redact_uri(uri))
    name_, device = decoder()
    if name_ == "nvdec":
        from .nvdec import NvdecVideoSource
        return NvdecVideoSource(uri, name=name, device=device)
    return VideoFileSource(uri, name=name)


def open_feed(src, plan):
    """The FrameFeed that reads the opened source `src` in a run of `plan` (a FeedPlan): decoder processes for a video
    file with `decode_processes`, several in-process readers on keyframe-aligned chunks of an MP4/MOV file with
    `decode_workers` > 1, else one reader in this process."""
    if isinstance(src, VideoFileSource):
        if plan.decode_processes > 0:
            from .decoders.feed import process_feed
            return process_feed(src, plan)
        from .chunked import chunked_feed
        feed = chunked_feed(src, plan.decode_workers, plan.max_frames)
        if feed is not None:
            return feed
    return SourceFeed(src, plan.max_frames)


def open_feeds(sources, plan, stop):
    # type: (list, object, object) -> list
    """`open_feed` of every source, each told to end its waits and retries once `stop` (a threading.Event) is set;
    what was started is closed again when one fails."""
    feeds = []
    try:
        for src in sources:
            src.stop_event = stop
            feeds.append(open_feed(src, plan))
    except BaseException:
        for feed in feeds:
            feed.close()
        raise
    return feeds


__all__ = ["open_source", "open_feed", "open_feeds", "source_name", "csi_pipeline"]
