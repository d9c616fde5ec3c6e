"""Any labeled set `trafficpipe eval` takes: a traffic-dev style folder (annotations.json) or MOTChallenge
sequences (one sequence, or a folder of them)."""
import os

from .dataset import ANNOTATIONS_FILE, load_dataset
from .motchallenge import is_mot_sequence, load_mot, mot_sequences


def load_labeled_set(path, check_images=True):
    # type: (str, bool) -> object
    """A Dataset from `path`; DatasetError (one line) when it is neither kind."""
    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, ANNOTATIONS_FILE)):
        if is_mot_sequence(path) or mot_sequences(path) or any(
                mot_sequences(os.path.join(path, n)) for n in os.listdir(path)):
            return load_mot(path, check_images)
    return load_dataset(path, check_images)
