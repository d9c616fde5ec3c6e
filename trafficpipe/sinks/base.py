"""The sink contract."""
import os


def temp_name(path):
    # type: (str) -> str
    """Where `path` is written until it is complete: a hidden name beside it, same extension (writers pick their
    format from it). The finished file replaces `path` in one rename, so a failed run never leaves it half-written
    or truncated."""
    folder, base = os.path.split(path)
    stem, ext = os.path.splitext(base)
    return os.path.join(folder, ".%s.partial%s" % (stem, ext))


class Sink(object):
    """Receives the frames of one source in order. `needs_image` sinks get the annotated image."""

    needs_image = False

    def prepare(self, frame):
        """Called when `frame` reaches the writer ahead of its turn (frames of a source decoded in parallel chunks
        arrive out of order): work that does not depend on order, such as formatting, may be done here, so that the
        frames held for reordering are written quickly once their turn comes. Optional."""

    def write(self, frame):
        raise NotImplementedError

    def close(self):
        pass

    def discard(self):
        """Drop what was written: the run could not start (an existing output of the same name stays as it was)."""
        self.close()
