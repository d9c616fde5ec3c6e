"""MOTChallenge sequences as labeled image sets: `img1/` frames, `gt/gt.txt`, `seqinfo.ini`.

Only pedestrians are scored on them: a sequence labels people exhaustively and nothing else completely (vehicles in
view are not annotated). Rows of `gt.txt` (`frame,id,x,y,w,h,consider[,class,visibility]` in MOT16/17, or
`frame,id,x,y,w,h,consider,wx,wy,wz` in MOT15, whose columns 8-10 are world coordinates) become:
- a pedestrian box where `consider` is 1 and the class, where the file has one (9 columns), is 1 (pedestrian);
- a difficult pedestrian (neither hit nor miss) where `consider` is 0;
- an ignore region for the MOTChallenge distractor classes (person on vehicle 2, static person 7, distractor 8,
  reflection 12), as MOTChallenge's own scoring does; other classes (vehicles, occluders) are not scored.
Every frame of `seqLength` is an image of the set, with or without people. A folder of sequences gives one Dataset
with a source per sequence; sequences without frames (ground truth only) are left out with a warning.
"""
import os

import numpy as np

from ..errors import DatasetError
from ..log import logger
from ..models.classes import TRAFFIC_CLASSES
from ..tracking.motdata import SEQINFO, find_sequences, read_mot_rows, read_seqinfo
from .dataset import Dataset, ImageAnnotation

PEDESTRIAN = TRAFFIC_CLASSES.index("pedestrian")
MOT_PEDESTRIAN = 1
MOT_DISTRACTORS = (2, 7, 8, 12)


def load_mot_sequence(seq, check_images=True, prefix=""):
    # type: (str, bool, str) -> list
    """The ImageAnnotations of one sequence's frames (source = the sequence's name; image names `prefix`/img1/...);
    DatasetError (one line)."""
    seq = os.path.abspath(seq)
    info = read_seqinfo(seq)
    img_dir = info.images
    if not os.path.isdir(img_dir):
        raise DatasetError("MOTChallenge sequence %s has no %s/ frames (ground truth only: it can score a tracker's "
                           "boxes, not a detector)" % (seq, info.im_dir))
    gt = read_mot_rows(os.path.join(seq, "gt", "gt.txt"), what="ground truth", allow_empty=True)
    has_class = gt.shape[1] == 9  # MOT16/17: class, visibility; MOT15 (10 columns): world coordinates
    n_frames = info.length
    if len(gt) and gt[:, 0].max() > n_frames:
        raise DatasetError("%s: frame %d is past seqLength %d of %s" % (os.path.join(seq, "gt", "gt.txt"),
                                                                      int(gt[:, 0].max()), n_frames, SEQINFO))
    cls = gt[:, 7].astype(np.int64) if has_class else np.full(len(gt), MOT_PEDESTRIAN, np.int64)
    xyxy = np.stack([gt[:, 2], gt[:, 3], gt[:, 2] + gt[:, 4], gt[:, 3] + gt[:, 5]], 1) if len(gt) else \
        np.zeros((0, 4))
    person = cls == MOT_PEDESTRIAN
    distractor = np.isin(cls, MOT_DISTRACTORS)
    frame_of = gt[:, 0].astype(np.int64)
    exhaustive = frozenset([PEDESTRIAN])
    images, missing = [], []
    for k in range(1, n_frames + 1):
        name = "%06d%s" % (k, info.im_ext)
        path = os.path.join(img_dir, name)
        if check_images and not os.path.isfile(path):
            missing.append(path)
            continue
        here = frame_of == k
        p = here & person
        boxes = xyxy[p]
        images.append(ImageAnnotation(
            0, os.path.join(prefix, info.im_dir, name), path, info.name, info.width,
            info.height, boxes.reshape(-1, 4), np.full(len(boxes), PEDESTRIAN, np.int32), gt[p, 6] == 0,
            exhaustive, frozenset(), xyxy[here & distractor].reshape(-1, 4)))
    if missing:
        more = " (and %d more)" % (len(missing) - 1) if len(missing) > 1 else ""
        raise DatasetError("%s: frame %s does not exist%s" % (seq, missing[0], more))
    return images


def load_mot(path, check_images=True):
    # type: (str, bool) -> Dataset
    """A Dataset of one MOTChallenge sequence, or of every sequence with frames in a folder of sequences (or of
    benchmark folders of them, one level down)."""
    path = os.path.abspath(path)
    seqs = find_sequences(path)
    if seqs == [path]:
        return Dataset(path, ["pedestrian"], load_mot_sequence(path, check_images),
                       name=os.path.basename(path))
    images = []
    for seq in seqs:
        if not os.path.isdir(os.path.join(seq, _image_dir(seq))):
            logger.warning("{}: no frames ({}/ missing, ground truth only); left out", seq, _image_dir(seq))
            continue
        images.extend(load_mot_sequence(seq, check_images, prefix=os.path.relpath(seq, path)))
    if not images:
        raise DatasetError("%s holds no MOTChallenge sequence with frames (img1/ + gt/gt.txt + seqinfo.ini)" % path)
    return Dataset(path, ["pedestrian"], images, name=os.path.basename(path))


def _image_dir(seq):
    try:
        return read_seqinfo(seq).im_dir
    except DatasetError:
        return "img1"
