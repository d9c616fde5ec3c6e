"""Running a detector over a dataset through the project's Pipeline, then scoring what it found."""
import time

from ..errors import DatasetError, TrafficpipeError
from ..log import logger
from ..sinks.base import Sink
from ..sources.images import ImageSource, image_problem
from .dataset import Dataset, load_dataset
from .scoring import score_detections


class CollectSink(Sink):
    """Keeps every frame's detections in memory by capture index; counts repeats so each image is scored once."""

    def __init__(self, on_frame=None):
        self.detections = {}
        self.repeats = 0
        self.on_frame = on_frame

    def write(self, frame):
        if frame.index in self.detections:
            self.repeats += 1
        self.detections[frame.index] = frame.detections
        if self.on_frame is not None:
            self.on_frame(frame)


def detect_dataset(dataset, detector, batch=1, progress=False, tiles=None, config=None):
    # type: (Dataset, object, int, bool, object, object) -> tuple
    """Run `detector` over every image of `dataset` through a Pipeline: (detections list in dataset order, summary).
    `tiles`: a TilePlan for tiled inference; `config`: the run's RunConfig (None: the CPU defaults at `batch`)."""
    check_readable(dataset)
    source = ImageSource(dataset.root, name=dataset.name, paths=dataset.paths)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(dataset), unit="img", dynamic_ncols=True, mininterval=0.5)
    sink = CollectSink(on_frame=(lambda f: bar.update(1)) if bar is not None else None)
    from ..pipeline import Pipeline
    from ..run_config import RunConfig
    pipe = Pipeline([source], detector, config or RunConfig.defaults(batch=batch), sinks=[[sink]], tiles=tiles,
                    draw=False)
    try:
        summary = pipe.run()
    finally:
        if bar is not None:
            bar.close()
    n = len(dataset)
    if source.skipped:  # an image that passed check_readable but did not decode
        raise DatasetError(_unreadable_message(dataset, [(p, None) for p in source.skipped]))
    got = sorted(sink.detections)
    if sink.repeats or got != list(range(n)):
        raise TrafficpipeError("the pipeline returned %d distinct image(s) (%d repeated) for a dataset of %d; "
                               "every image must be scored exactly once" % (len(got), sink.repeats, n))
    return [sink.detections[i] for i in range(n)], summary


def check_readable(dataset):
    # type: (Dataset) -> None
    """DatasetError (one line naming them) when some images of `dataset` cannot be read, before anything is detected."""
    bad = []
    for path in dataset.paths:
        why = image_problem(path)
        if why is not None:
            bad.append((path, why))
    if bad:
        raise DatasetError(_unreadable_message(dataset, bad))


def _unreadable_message(dataset, bad):
    # type: (Dataset, list) -> str
    """'<set>: N of M images cannot be read: <name> (<why>), ...' for (path, why or None) pairs."""
    names = dict((im.path, im.image) for im in dataset.images)
    shown = ["%s%s" % (names.get(p, p), " (%s)" % why if why else "") for p, why in bad[:3]]
    return "dataset %s: %d of %d image%s cannot be read: %s%s; fix or remove %s" % (
        dataset.root, len(bad), len(dataset), "" if len(dataset) == 1 else "s", ", ".join(shown),
        ", ..." if len(bad) > 3 else "", "it" if len(bad) == 1 else "them")


def evaluate(dataset, detector, batch=1, classes=None, progress=False, tiles=None, config=None):
    # type: (object, object, int, object, bool, object, object) -> object
    """Detect every image of `dataset` (a Dataset or folder) with `detector` (a Detector, left open) and score it;
    `tiles` and `config` as `detect_dataset` takes them.

    Returns an EvalResult whose `run` holds the detector description, image count, wall time and fps, and whose
    `detections` attribute holds the detections per image (dataset order). `classes` defaults to the classes both the
    dataset and the detector have.
    """
    if not isinstance(dataset, Dataset):
        dataset = load_dataset(dataset)
    if classes is None:
        own = set(getattr(getattr(detector, "adapter", None), "classes", dataset.classes))
        classes = [c for c in dataset.classes if c in own]
    t0 = time.perf_counter()
    dets, summary = detect_dataset(dataset, detector, batch=batch, progress=progress, tiles=tiles, config=config)
    t1 = time.perf_counter()
    result = score_detections(dataset, dets, classes=classes)
    t2 = time.perf_counter()
    describe = getattr(detector, "describe", None)
    result.run = {"detector": describe() if describe else None, "images": len(dataset),
                  "batch": config.batch if config is not None else batch,
                  "detect_s": round(t1 - t0, 3), "score_s": round(t2 - t1, 3),
                  "fps": round(len(dataset) / (t1 - t0), 2) if t1 > t0 else None,
                  "tiles": tiles.describe() if tiles else None}
    result.detections = dets
    result.image_names = [im.image for im in dataset.images]
    logger.debug("eval: {} images detected in {:.1f}s, scored in {:.1f}s", len(dataset), t1 - t0, t2 - t1)
    return result
