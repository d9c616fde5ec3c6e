"""Logging set-up (loguru) shared by the CLI and the library."""
import sys

from loguru import logger

from .redact import redact

_configured = False


def setup_logging(level="INFO", debug=False):
    # type: (str, bool) -> None
    """Send loguru records to stderr at `level` (DEBUG when `debug`)."""
    global _configured
    logger.remove()
    fmt = "<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> {message}"
    try:
        logger.configure(patcher=_redact_record)
        guard = None
    except TypeError:  # loguru before 0.6 (Python 3.6 on the Jetson Nano) has no patcher: mask in the sink's filter
        guard = _redact_filter
    logger.add(sys.stderr, level="DEBUG" if debug else level, format=fmt, backtrace=debug, diagnose=False, filter=guard)
    _configured = True


def _redact_record(record):
    """Mask URL passwords in every log message (rtsp://user:***@host): a last guard, sources log redacted URIs."""
    record["message"] = redact(record["message"])


def _redact_filter(record):
    _redact_record(record)
    return True


def quiet_native_logs():
    """Silence OpenCV's and FFmpeg's own stderr messages (decoder errors, refused connections): trafficpipe reports
    what matters in one line. Call before the first capture is opened (FFmpeg's level is read once); a level the user
    set in the environment is kept."""
    import os
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")  # its [ERROR] lines too: a bad image or stream gets our line
    try:
        import cv2
        if os.environ["OPENCV_LOG_LEVEL"].upper() in ("SILENT", "S", "0", "OFF", "DISABLED"):
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except (ImportError, AttributeError):  # older OpenCV: no logging control from Python
        pass


__all__ = ["logger", "setup_logging", "quiet_native_logs"]
