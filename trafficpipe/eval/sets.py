"""Any labeled set `trafficpipe eval` takes: a traffic-dev style folder (annotations.json) or MOTChallenge
sequences (one sequence, or a folder of them)."""
import os

from ..errors import DatasetError
from .dataset import ANNOTATIONS_FILE, load_dataset
from .motchallenge import is_mot_sequence, load_mot, mot_sequences


def load_labeled_set(path, check_images=True):
    # type: (str, bool) -> object
    """A Dataset from `path`; DatasetError (one line) when it is neither kind."""
    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, ANNOTATIONS_FILE)):
        if is_mot_sequence(path) or mot_sequences(path):
            return load_mot(path, check_images)
        raise DatasetError("%s is neither a labeled set (no %s) nor a MOTChallenge sequence (img1/, gt/gt.txt, "
                           "seqinfo.ini) or a folder of them" % (path, ANNOTATIONS_FILE))
    return load_dataset(path, check_images)
