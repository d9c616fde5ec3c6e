"""In-order steps: per-source work that needs a source's frames in capture order (tracking, counting). The writer
runs a source's steps on each frame, in order, just before that source's sinks."""


class FrameStep(object):
    """One source's in-order step. `process(frame)` may change `frame.detections`, add to `frame.extra` (written into
    the JSON line) and draw on `frame.image`; `close()` runs once the source's last frame is through (or the run
    stops), before its sinks close. `name` keys the step's timing in the run summary (`stages`)."""

    name = "step"

    def process(self, frame):
        raise NotImplementedError

    def close(self):
        pass

    def discard(self):
        """Drop what the step wrote (a run that could not start): an output of an earlier run stays as it was."""
        self.close()
