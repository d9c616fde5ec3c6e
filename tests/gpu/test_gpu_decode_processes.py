"""`--decode-processes` on the GPU: the torch engine fed by decoder processes (decoding and resizing in children)
writes the detections of the in-process pipeline, every frame in order, and leaves no child or ring file behind.
The rings' model inputs are page-locked (cuMemHostRegister) and copied to the device straight from there."""
import multiprocessing

import pytest

from cli_helpers import ring_files
from gpu_helpers import VIDEO, match_detections, report
from trafficpipe.detector import Detector
from trafficpipe.pipeline import Pipeline
from trafficpipe.run_config import RunConfig
from trafficpipe.sources.decoders.feed import ProcessFeed


class _Keep(object):
    def __init__(self, needs_image=False):
        self.needs_image = needs_image
        self.frames = []

    def write(self, frame):
        self.frames.append((frame.index, frame.detections))

    def close(self):
        pass


@pytest.fixture(scope="module")
def det():
    d = Detector("yolox-nano", engine="torch", precision="fp32")
    yield d
    d.close()


def _run(det, processes, needs_image=False):
    keep = _Keep(needs_image)
    pipe = Pipeline([VIDEO], det, RunConfig.defaults(batch=4, preprocess_workers=1, decode_processes=processes),
                    sinks=[[keep]])
    rings = []

    def children():
        return [c for f in pipe.stages[0].feeds if isinstance(f, ProcessFeed) for c in f.decoders.children]

    def look():  # once the run is set up: does the driver see the rings' inputs as page-locked?
        runtime = det.engine.runtime
        rings.extend((c.pinned, runtime.is_page_locked(c.inputs), runtime.is_page_locked(c.inputs[-1]))
                     for c in children())
    pipe.on_start = look
    summary = pipe.run()
    if processes:
        assert rings and all(r == (True, True, True) for r in rings), rings
        assert not any(c.pinned for c in children())  # unpinned
    return keep.frames, summary


@pytest.mark.parametrize("processes,needs_image", ((1, False), (3, False), (2, True)),
                         ids=("1-inputs-ring", "3-inputs-ring", "2-frames-ring"))
def test_decode_processes_give_the_detections_of_one_process(det, processes, needs_image):
    base, _ = _run(det, 0)
    got, summary = _run(det, processes, needs_image)
    assert [i for i, _ in got] == [i for i, _ in base] == list(range(450))
    matched = [match_detections(a, b, 0.99) for (_, a), (_, b) in zip(base, got)]
    boxes = sum(len(d) for _, d in got)
    report("decode_processes_match", processes=processes, needs_image=needs_image, frames=len(got), boxes=boxes,
           matched=sum(matched) / len(matched), fps=summary.fps, preprocess_ms=summary.stages["preprocess"]["ms_per_frame"])
    assert boxes > 450 and sum(matched) / len(matched) == 1.0
    assert multiprocessing.active_children() == []
    assert ring_files() == []
