"""What `trafficpipe train` checks of its sets before any training: every image readable (the cheap header checks of
`trafficpipe eval`), boxes to learn from in the training set, and something to score in the validation set. Each
problem is one DatasetError line naming the set and what is wrong."""
import numpy as np

from ..errors import DatasetError
from ..eval.runner import check_readable


def check_train_set(dataset):
    # type: (object) -> object
    """`dataset` (the images a run trains on) when every image is readable and some hold labeled boxes; DatasetError
    (one line) otherwise."""
    check_readable(dataset)
    if not any(len(im.boxes) for im in dataset.images):
        raise DatasetError("training set %s: no labeled boxes to train on (%d image%s, none with a box)"
                           % (dataset.root, len(dataset), "" if len(dataset) == 1 else "s"))
    return dataset


def check_val_set(dataset):
    # type: (object) -> object
    """`dataset` (the images a run validates on) when every image is readable and validation can score something
    there: a class labeled exhaustively with boxes of it, or labeled road signs; DatasetError (one line) otherwise.
    Without either every epoch would score 0 and the best epoch would stay the first."""
    from ..eval.scoring import score_detections
    from .model_eval import road_sign_figures
    check_readable(dataset)
    nothing = [(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0,), np.int64))
               for _ in dataset.images]
    if not score_detections(dataset, nothing).classes and road_sign_figures(dataset, nothing) is None:
        raise DatasetError("validation set %s: no class is labeled exhaustively with boxes of it (and no road signs "
                           "are labeled), so validation has nothing to score; give a --val set with exhaustive labels "
                           "(e.g. traffic-dev) or leave --val out" % dataset.root)
    return dataset
