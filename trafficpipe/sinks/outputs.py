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


def _key(path):
    # type: (str) -> str
    return os.path.normcase(os.path.realpath(path))


def _within(path, folder):
    # type: (str, str) -> bool
    """Whether `path` is `folder` or lies inside it (both `_key`s)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_off_inputs(outputs, inputs, out_dir):
    """SinkError (one line, before anything is written) where an output of the run would land on one of its inputs:
    `outputs` and `inputs` are (path, is_folder) pairs; an output may not be an input file, lie in an input folder, or
    be a folder (replaced whole when complete) that holds an input."""
    ins = [(_key(p), folder, p) for p, folder in inputs]
    for path, folder in outputs:
        out = _key(path)
        for key, in_folder, shown in ins:
            if out == key:
                why = "overwrite the input %s" % shown
            elif in_folder and _within(out, key):
                why = "write into the input folder %s" % shown
            elif folder and _within(key, out):
                why = "replace the folder %s, which holds the input %s" % (path, shown)
            else:
                continue
            raise SinkError("--out %s would %s; choose another output folder" % (out_dir, why))
