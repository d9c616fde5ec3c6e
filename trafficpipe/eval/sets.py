"""Any labeled set `trafficpipe eval` takes: a traffic-dev style folder (annotations.json) or MOTChallenge
sequences (one sequence, or a folder of them)."""
import os

from ..tracking.motdata import find_sequences
from .dataset import ANNOTATIONS_FILE, load_dataset
from .motchallenge import load_mot


def load_labeled_set(path, check_images=True):
    # type: (str, bool) -> object
    """A Dataset from `path`; DatasetError (one line) when it is neither kind."""
    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, ANNOTATIONS_FILE)):
        if find_sequences(path):
            return load_mot(path, check_images)
    return load_dataset(path, check_images)
