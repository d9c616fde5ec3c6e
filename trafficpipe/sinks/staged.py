"""A text output written aside and put in place when complete, shared by the track sinks and the counts summary."""
import os

from ..errors import SinkError
from .base import temp_name


class StagedFile(object):
    """`path` written to `.name.partial.ext` beside it (`f`), renamed over `path` by `close`. Opened at once, so an
    unwritable folder fails before the run. `replaces` tells whether an earlier run's file is there."""

    def __init__(self, path):
        # type: (str) -> None
        if os.path.isdir(path):
            raise SinkError("cannot write %s: a folder of that name is in the way" % path)
        self.path = path
        self.replaces = os.path.exists(path)
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self.f = open(temp_name(path), "w")
        except (IOError, OSError) as e:
            raise SinkError("cannot write %s: %s" % (path, e.strerror or e))

    def close(self, frames, finish=None):
        """Let `finish(f)` write the end, then put the file in place; a run of no frames leaves an earlier file as it
        was. A second call does nothing."""
        if self.f.closed:
            return
        if not frames and os.path.exists(self.path):
            self.discard()
            return
        if finish is not None:
            finish(self.f)
        self.f.close()
        os.replace(self.f.name, self.path)

    def discard(self):
        """Drop what was written; an earlier file stays as it was."""
        if not self.f.closed:
            self.f.close()
            try:
                os.remove(self.f.name)
            except OSError:
                pass
