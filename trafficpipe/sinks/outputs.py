"""The output files of one run: every one its own, and what an earlier run left under the same names."""
import os

from ..errors import SinkError
from ..log import logger


def sink_paths(sinks):
    # type: (list) -> list
    """The files and folders the sinks of a run write (per source lists of sinks; sinks without a path skipped)."""
    return [s.path for own in sinks for s in own if getattr(s, "path", None)]


def check_distinct(sinks):
    """SinkError unless every output file or folder of the run is its own (no two written to one path; names that
    differ only in case count as one)."""
    seen = {}
    for path in sink_paths(sinks):
        key = os.path.normcase(os.path.abspath(path)).lower()
        if key in seen:
            raise SinkError("two outputs of this run would be written to %s" % path)
        seen[key] = path


def existing_outputs(sinks):
    # type: (list) -> list
    """The outputs of the run already on disk: the files it will replace (folders: same-named files inside)."""
    return [s.path for own in sinks for s in own if getattr(s, "replaces", False)]


def log_replaced(sinks):
    """One line naming the outputs of an earlier run this one replaces (each once it is complete)."""
    old = existing_outputs(sinks)
    if old:
        shown = [os.path.basename(p.rstrip("/\\")) + ("/" if os.path.isdir(p) else "") for p in old]
        logger.info("replacing {} existing output{} in {} as each is finished: {}{}", len(old),
                       "" if len(old) == 1 else "s", os.path.dirname(os.path.abspath(old[0])),
                       ", ".join(shown[:6]), ", ..." if len(shown) > 6 else "")
