"""`--decode-processes` on the GPU: the torch engine fed by decoder processes (decoding and resizing in children)
writes the detections of the in-process pipeline, every frame in order, and leaves no child or ring file behind."""
import glob
import multiprocessing

import pytest

from gpu_helpers import VIDEO, match_detections, report
from trafficpipe.detector import Detector
from trafficpipe.pipeline import Pipeline


class _Keep(object):
    needs_image = False

    def __init__(self):
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


def _run(det, processes):
    keep = _Keep()
    summary = Pipeline([VIDEO], det, sinks=[[keep]], batch=4, preprocess_workers=1, decode_processes=processes).run()
    return keep.frames, summary


@pytest.mark.parametrize("processes", (1, 3))
def test_decode_processes_give_the_detections_of_one_process(det, processes):
    base, _ = _run(det, 0)
    got, summary = _run(det, processes)
    assert [i for i, _ in got] == [i for i, _ in base] == list(range(450))
    matched = [match_detections(a, b, 0.99) for (_, a), (_, b) in zip(base, got)]
    boxes = sum(len(d) for _, d in got)
    report("decode_processes_match", processes=processes, frames=len(got), boxes=boxes,
           matched=sum(matched) / len(matched), fps=summary.fps, preprocess_ms=summary.stages["preprocess"]["ms_per_frame"])
    assert boxes > 450 and sum(matched) / len(matched) == 1.0
    assert multiprocessing.active_children() == []
    assert glob.glob("/dev/shm/trafficpipe-ring-*") == []
