"""Stand-ins for testing the pipeline's own logic (queues, stages, order, ends, errors) without model files or videos.

`SyntheticSource` draws frame i as a grey image with one white square whose position encodes i; `MarkerDetector`
is a detector whose "model" finds that square: its detection of a frame says which frame it saw. So a test can check
that every frame reached its output, in order, with its own detections, for any batch, worker count or source mix.
"""
import time

import numpy as np

from trafficpipe.engines.base import Engine, ExecutionContext, TensorSpec
from trafficpipe.errors import SourceError
from trafficpipe.models.detections import Detections
from trafficpipe.sources.base import Source, SourceState

SQUARE = 16


def marker_box(index, width, height):
    # type: (int, int, int) -> list
    """Where SyntheticSource draws frame `index`'s square: [x1, y1, x2, y2]."""
    cols = max(1, (width - SQUARE) // SQUARE)
    x = (index % cols) * SQUARE
    y = ((index // cols) * SQUARE) % max(SQUARE, height - SQUARE)
    return [x, y, x + SQUARE, y + SQUARE]


class SyntheticSource(Source):
    """`frames` frames of `width` x `height` at `fps`; `live=True` paces them in real time; `fail_at` raises
    SourceError at that frame (after the frames before it)."""

    def __init__(self, name, frames=30, width=160, height=96, fps=30.0, live=False, fail_at=None):
        super(SyntheticSource, self).__init__("synthetic://" + name, name=name)
        self.live = live
        self.n = frames
        self.fps = fps
        self.width, self.height = width, height
        self.frame_count = None if live else frames
        self.fail_at = fail_at
        self.t_start = None

    def open(self):
        self.set_state(SourceState.STREAMING)

    def read(self, buf=None):
        i = self.frames_read
        if self.fail_at is not None and i == self.fail_at:
            self.error = "synthetic failure at frame %d" % i
            raise SourceError(self.error)
        if i >= self.n:
            self.set_state(SourceState.ENDED)
            return None
        if self.live:
            if self.t_start is None:
                self.t_start = time.perf_counter()
            wait = self.t_start + i / self.fps - time.perf_counter()
            if wait > 0 and self.sleep(wait):
                return None
        image = buf if buf is not None and buf.shape == (self.height, self.width, 3) else \
            np.empty((self.height, self.width, 3), np.uint8)
        image[...] = 64
        x1, y1, x2, y2 = marker_box(i, self.width, self.height)
        image[y1:y2, x1:x2] = 255
        self.frames_read += 1
        return image, i / self.fps


class _Input(object):
    name = "image"


class MarkerAdapter(object):
    """The model family of MarkerEngine: preprocess finds the white square, postprocess returns it as a vehicle."""

    input = _Input()
    width = height = 64
    iou = 0.45
    max_det = 300
    classes = ("vehicle",)
    conf = 0.5

    def preprocess(self, image, out):
        ys, xs = np.nonzero(image[:, :, 0] == 255)
        out[:] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) if len(xs) else (0, 0, 0, 0)
        return None

    def postprocess(self, outputs, meta):
        box = np.array(outputs[0], np.float32).reshape(1, 4)  # a copy: the slot is reused once released
        return Detections(box, np.array([0.9], np.float32), np.array([0], np.int32))


class MarkerContext(ExecutionContext):
    """Copies each input row to the output row, after `delay` seconds (a stand-in for inference time)."""

    def _launch(self, slot):
        if self.engine.delay:
            time.sleep(self.engine.delay)
        slot.host_outputs["box"][:slot.size] = slot.host_inputs["image"][:slot.size]

    def _wait(self, slot):
        pass


class MarkerEngine(Engine):
    name = "marker"
    concurrency = 1

    def __init__(self, delay=0.0):
        super(MarkerEngine, self).__init__()
        self.delay = delay
        self.inputs = [TensorSpec("image", (-1, 4), np.float32)]
        self.outputs = [TensorSpec("box", (-1, 4), np.float32)]

    def _context_class(self):
        return MarkerContext


class MarkerDetector(object):
    """What the pipeline needs of a Detector, over MarkerEngine and MarkerAdapter."""

    def __init__(self, delay=0.0):
        self.engine = MarkerEngine(delay)
        self.adapter = MarkerAdapter()
        self.output_names = self.engine.output_names

    def describe(self):
        return {"engine": "marker", "model": "marker", "family": "marker"}

    def close(self):
        self.engine.close()
