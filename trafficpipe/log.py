"""Logging set-up (loguru) shared by the CLI and the library."""
import sys

from loguru import logger

_configured = False


def setup_logging(level="INFO", debug=False):
    # type: (str, bool) -> None
    """Send loguru records to stderr at `level` (DEBUG when `debug`)."""
    global _configured
    logger.remove()
    fmt = "<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> {message}"
    logger.add(sys.stderr, level="DEBUG" if debug else level, format=fmt, backtrace=debug, diagnose=False)
    _configured = True


__all__ = ["logger", "setup_logging"]
