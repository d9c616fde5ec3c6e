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
from .dataset import Dataset, ImageAnnotation

SEQINFO = "seqinfo.ini"
PEDESTRIAN = TRAFFIC_CLASSES.index("pedestrian")
MOT_PEDESTRIAN = 1
MOT_DISTRACTORS = (2, 7, 8, 12)


def is_mot_sequence(path):
    # type: (str) -> bool
    """True for a folder laid out as a MOTChallenge sequence (seqinfo.ini, gt/ or img1/)."""
    return os.path.isdir(path) and any(os.path.exists(os.path.join(path, p)) for p in (SEQINFO, "gt", "img1"))


def mot_sequences(path):
    # type: (str) -> list
    """The sequence folders directly under `path` (sorted), or [] when it holds none."""
    if not os.path.isdir(path):
        return []
    return [os.path.join(path, n) for n in sorted(os.listdir(path)) if is_mot_sequence(os.path.join(path, n))]


def read_seqinfo(seq):
    # type: (str) -> dict
    """name, imDir, frameRate, seqLength, imWidth, imHeight, imExt of a sequence; DatasetError (one line) otherwise."""
    path = os.path.join(seq, SEQINFO)
    if not os.path.isfile(path):
        raise DatasetError("MOTChallenge sequence %s has no %s (needed for its length, frame size and image folder)"
                           % (seq, SEQINFO))
    from configparser import ConfigParser, Error as ConfigError
    cp = ConfigParser()
    try:
        cp.read(path)
    except ConfigError as e:
        raise DatasetError("%s is not a valid ini file: %s" % (path, str(e).splitlines()[0]))
    if not cp.has_section("Sequence"):
        raise DatasetError("%s has no [Sequence] section" % path)
    sec = cp["Sequence"]
    info = {"name": sec.get("name", os.path.basename(os.path.normpath(seq))), "imDir": sec.get("imDir", "img1"),
            "imExt": sec.get("imExt", ".jpg")}
    for key in ("seqLength", "imWidth", "imHeight"):
        try:
            info[key] = int(sec.get(key, ""))
        except ValueError:
            raise DatasetError("%s: %s must be a whole number, got %r" % (path, key, sec.get(key)))
        if info[key] <= 0:
            raise DatasetError("%s: %s must be positive, got %d" % (path, key, info[key]))
    info["frameRate"] = sec.get("frameRate")
    return info


def read_gt(path):
    # type: (str) -> np.ndarray
    """float64 [N, C] rows of a MOTChallenge gt.txt (C >= 7, the same on every row); DatasetError on a bad line."""
    if not os.path.isfile(path):
        raise DatasetError("MOTChallenge ground truth %s does not exist" % path)
    rows, width = [], None
    with open(path, "r") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = [p for p in line.replace(",", " ").split()]
            try:
                vals = [float(p) for p in parts]
            except ValueError:
                raise DatasetError("%s line %d: expected comma-separated numbers, got %r" % (path, n, line[:80]))
            if len(vals) < 7:
                raise DatasetError("%s line %d: expected frame,id,x,y,w,h,consider[,...] (at least 7 values), got %d"
                                   % (path, n, len(vals)))
            if width is not None and len(vals) != width:
                raise DatasetError("%s line %d: %d values where the lines before have %d" % (path, n, len(vals), width))
            width = len(vals)
            if not all(np.isfinite(vals)) or vals[0] < 1 or vals[4] <= 0 or vals[5] <= 0:
                raise DatasetError("%s line %d: needs a frame >= 1 and a box of positive width and height, got %r"
                                   % (path, n, line[:80]))
            rows.append(vals)
    return np.asarray(rows, np.float64).reshape(-1, width or 7)


def load_mot_sequence(seq, check_images=True, prefix=""):
    # type: (str, bool, str) -> list
    """The ImageAnnotations of one sequence's frames (source = the sequence's name; image names `prefix`/img1/...);
    DatasetError (one line)."""
    seq = os.path.abspath(seq)
    info = read_seqinfo(seq)
    img_dir = os.path.join(seq, info["imDir"])
    if not os.path.isdir(img_dir):
        raise DatasetError("MOTChallenge sequence %s has no %s/ frames (ground truth only: it can score a tracker's "
                           "boxes, not a detector)" % (seq, info["imDir"]))
    gt = read_gt(os.path.join(seq, "gt", "gt.txt"))
    has_class = gt.shape[1] == 9  # MOT16/17: class, visibility; MOT15 (10 columns): world coordinates
    n_frames = info["seqLength"]
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
        name = "%06d%s" % (k, info["imExt"])
        path = os.path.join(img_dir, name)
        if check_images and not os.path.isfile(path):
            missing.append(path)
            continue
        here = frame_of == k
        p = here & person
        boxes = xyxy[p]
        images.append(ImageAnnotation(
            0, os.path.join(prefix, info["imDir"], name), path, info["name"], info["imWidth"],
            info["imHeight"], boxes.reshape(-1, 4), np.full(len(boxes), PEDESTRIAN, np.int32), gt[p, 6] == 0,
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
    if is_mot_sequence(path):
        return Dataset(path, ["pedestrian"], load_mot_sequence(path, check_images),
                       name=os.path.basename(path))
    images = []
    seqs = mot_sequences(path)
    for sub in sorted(os.listdir(path)):  # a benchmark folder one level down (tracking/mot17/MOT17-02-FRCNN)
        full = os.path.join(path, sub)
        if full not in seqs and os.path.isdir(full):
            seqs.extend(mot_sequences(full))
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
        return read_seqinfo(seq)["imDir"]
    except DatasetError:
        return "img1"
