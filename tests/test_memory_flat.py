"""Memory of a long run stays flat: the pipeline's metrics keep running sums and bounded samples, not a list entry per
frame (which would be about 0.5 KB per frame, 1 GB a day for one 30 fps camera). 50,000 frames of a synthetic source through
the real threaded pipeline (capture, preprocess, infer, postprocess, write) with an engine that computes nothing, so
that only the pipeline's own book-keeping is measured: what it holds more at the end than at frame 25,000 (past the
20,000 per-item times each stage keeps as they are). Not timed."""
import tracemalloc

import numpy as np

from trafficpipe.engines.base import Engine, ExecutionContext, TensorSpec
from trafficpipe.models.detections import Detections
from trafficpipe.pipeline import Pipeline
from trafficpipe.run_config import RunConfig
from trafficpipe.sinks.base import Sink
from trafficpipe.sources.base import Source, SourceState

FRAMES = 50000
FROM = 25000  # measured from here: past metrics.KEEP_SAMPLES


class SyntheticSource(Source):
    """`n` tiny frames, as a file source (nothing dropped)."""

    def __init__(self, n):
        super(SyntheticSource, self).__init__("synthetic", name="synthetic")
        self.frame_count = n
        self.image = np.zeros((4, 4, 3), np.uint8)

    def open(self):
        self.fps, self.width, self.height = 30.0, 4, 4
        self.set_state(SourceState.STREAMING)

    def read(self, buf=None):
        if self.frames_read >= self.frame_count:
            return None
        self.frames_read += 1
        return self.image, self.frames_read / 30.0


class IdleContext(ExecutionContext):
    def _launch(self, slot):
        pass

    def _wait(self, slot):
        pass


class IdleEngine(Engine):
    name = "idle"

    def __init__(self):
        super(IdleEngine, self).__init__()
        self.inputs = [TensorSpec("x", (-1, 1))]
        self.outputs = [TensorSpec("y", (-1, 1))]

    def _context_class(self):
        return IdleContext


class NoDetections(object):
    """An adapter that fills nothing in and finds nothing."""

    input = TensorSpec("x", (-1, 1))
    width = height = 4
    conf, iou, max_det, classes = 0.3, 0.45, 100, ()

    def preprocess(self, image, out):
        return None

    def postprocess(self, outputs, meta):
        return Detections.empty() if hasattr(Detections, "empty") else Detections(
            np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))


class IdleDetector(object):
    def __init__(self):
        self.engine = IdleEngine()
        self.adapter = NoDetections()
        self.output_names = ["y"]

    def describe(self):
        return {"engine": "idle"}


class Count(Sink):
    def __init__(self):
        self.n = 0

    def write(self, frame):
        self.n += 1


def test_memory_stays_flat_over_a_long_run():
    growth = {}

    def on_frame(frame):  # the writer thread: measure from frame FROM on, read the growth at the last frame
        if frame.index == FROM:
            tracemalloc.start()
        elif frame.index == FRAMES - 1:
            growth["bytes"] = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()

    sink = Count()
    pipe = Pipeline([SyntheticSource(FRAMES)], IdleDetector(), RunConfig.defaults(batch=1, queue_size=64),
                    sinks=[[sink]], on_frame=on_frame)
    summary = pipe.run()
    assert summary.frames_in == summary.frames_out == sink.n == FRAMES
    assert summary.stages["write"]["items"] == FRAMES and summary.stages["preprocess"]["frames"] == FRAMES
    assert summary.sources[0]["latency_ms"]["p99"] > 0
    # 25,000 frames at 0.5 KB each would be 12.5 MB; what is left allocated must not grow with the frame count
    print("memory held by the last %d frames: %d bytes" % (FRAMES - FROM, growth["bytes"]))
    assert growth["bytes"] < 500000, growth
