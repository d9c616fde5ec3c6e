"""User-facing errors: each one becomes a single line on stderr and a non-zero exit code."""


class TrafficpipeError(Exception):
    """An error caused by the user's input or environment, reported as one line (no traceback)."""

    exit_code = 2


class SourceError(TrafficpipeError):
    """A source could not be opened or read (missing file, not a video, dead stream)."""


class ModelError(TrafficpipeError):
    """A model file is missing, is not ONNX, or does not fit its adapter."""


class EngineError(TrafficpipeError):
    """An inference engine is unavailable on this machine or failed to load a model."""


class SinkError(TrafficpipeError):
    """An output cannot be written."""


class DatasetError(TrafficpipeError):
    """A labeled dataset is malformed or incomplete."""


class TruncatedInput(TrafficpipeError):
    """A source ended early: what was decoded was processed and written, the rest was unreadable."""

    exit_code = 3


class Terminated(KeyboardInterrupt):
    """SIGTERM (docker stop, systemd, Ray): handled as Ctrl-C is (outputs finished, children stopped), exit 143."""


def first_line(e):
    # type: (BaseException) -> str
    """An exception's message cut to its first line (its type's name when it has none), for one-line errors."""
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__
