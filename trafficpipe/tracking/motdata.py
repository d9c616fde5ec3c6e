"""MOTChallenge files: sequence folders, seqinfo.ini, det.txt (frame,id,x,y,w,h,score[,...]), gt.txt, and the tracker
text output (`frame,id,x,y,w,h,score,-1,-1,-1`, 1-based frames). The one reader of these files for detection scoring
(`trafficpipe eval`) and tracking scoring (`trafficpipe eval-track`)."""
import os

import numpy as np

from ..errors import DatasetError

SEQINFO = "seqinfo.ini"


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


def find_sequences(path):
    # type: (str) -> list
    """`path` itself when it is a sequence; else the sequences under it, and under its sub-folders one level down
    (a folder of benchmarks: tracking/mot17/MOT17-02-FRCNN), sorted; [] when it holds none."""
    if is_mot_sequence(path):
        return [path]
    seqs = mot_sequences(path)
    if os.path.isdir(path):
        for sub in sorted(os.listdir(path)):
            full = os.path.join(path, sub)
            if full not in seqs and os.path.isdir(full):
                seqs.extend(mot_sequences(full))
    return seqs


class SequenceInfo(object):
    """A sequence's seqinfo.ini: name, folder, frames, fps, image width/height, image folder and extension."""

    def __init__(self, root, name, length, fps, width, height, im_dir="img1", im_ext=".jpg"):
        self.root = root
        self.name = name
        self.length = length
        self.fps = fps
        self.width = width
        self.height = height
        self.im_dir = im_dir
        self.im_ext = im_ext

    @property
    def images(self):
        return os.path.join(self.root, self.im_dir)


def sequence_frames(info):
    # type: (SequenceInfo) -> list
    """The image of each frame 1..`info.length` of a sequence: its path in the image folder, or None where the file is
    missing. Frames are numbered by their file names (000001.jpg is frame 1; gaps stay gaps); where the names are not
    numbers, by their sorted order."""
    from ..sources.images import is_image_path
    folder = info.images
    names = sorted(n for n in os.listdir(folder) if is_image_path(n) and os.path.isfile(os.path.join(folder, n)))
    stems = [os.path.splitext(n)[0] for n in names]
    if names and all(st.isdigit() for st in stems):
        numbered = {}
        for n, st in zip(names, stems):  # two files of one number (000001.jpg, 000001.png): imExt's wins
            if int(st) not in numbered or n.lower().endswith(info.im_ext.lower()):
                numbered[int(st)] = n
        chosen = [numbered.get(k) for k in range(1, info.length + 1)]
    else:
        chosen = names[:info.length] + [None] * max(0, info.length - len(names))
    return [os.path.join(folder, n) if n else None for n in chosen]


def frame_file_name(info, number):
    # type: (SequenceInfo, int) -> str
    """The MOTChallenge name of frame `number`'s image (img1/000001.jpg), for messages about a missing one."""
    return "%s/%06d%s" % (info.im_dir, number, info.im_ext)


def read_seqinfo(seq_dir):
    # type: (str) -> SequenceInfo
    """The [Sequence] section of `seq_dir`/seqinfo.ini; DatasetError (one line) when missing or incomplete."""
    path = os.path.join(seq_dir, SEQINFO)
    if not os.path.isdir(seq_dir):
        raise DatasetError("%s is not a folder (expected a MOTChallenge sequence with seqinfo.ini)" % seq_dir)
    if not os.path.isfile(path):
        raise DatasetError("%s has no seqinfo.ini (a MOTChallenge sequence needs one: name, seqLength, frameRate, "
                           "imWidth, imHeight)" % seq_dir)
    try:
        import configparser
    except ImportError:  # pragma: no cover
        raise DatasetError("configparser is missing")
    cp = configparser.ConfigParser()
    try:
        cp.read(path)
        sec = cp["Sequence"]
        info = SequenceInfo(os.path.abspath(seq_dir), sec.get("name", os.path.basename(os.path.abspath(seq_dir))),
                            int(sec["seqLength"]), float(sec.get("frameRate", "30")), int(sec["imWidth"]),
                            int(sec["imHeight"]), sec.get("imDir", "img1"), sec.get("imExt", ".jpg"))
    except (configparser.Error, KeyError, ValueError) as e:
        raise DatasetError("%s: not a valid seqinfo.ini ([Sequence] with seqLength, frameRate, imWidth, imHeight): %s"
                           % (path, str(e).splitlines()[0] if str(e) else type(e).__name__))
    if min(info.length, info.width, info.height) <= 0 or not info.fps > 0:
        raise DatasetError("%s: seqLength, frameRate, imWidth and imHeight must be positive" % path)
    return info


def read_mot_rows(path, min_cols=7, what="detections", allow_empty=False):
    # type: (str, int, str, bool) -> np.ndarray
    """The rows of a MOTChallenge text file as float64 [N, cols] (values separated by commas or spaces); DatasetError
    naming the file and line when it is missing, malformed, or empty (unless `allow_empty`)."""
    if not os.path.isfile(path):
        raise DatasetError("%s: no such file (MOTChallenge %s)" % (path, what))
    rows = []
    width = None
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetError("%s: not a text file (MOTChallenge %s; byte %d is no UTF-8)" % (path, what, e.start))
    except (IOError, OSError) as e:
        raise DatasetError("cannot read %s: %s" % (path, e.strerror or e))
    for i, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            raise DatasetError("%s line %d: not comma-separated numbers: %r" % (path, i, line[:60]))
        if len(vals) < min_cols:
            raise DatasetError("%s line %d: %d values, expected at least %d (frame,id,x,y,w,h,%s...)"
                               % (path, i, len(vals), min_cols, "consider" if what == "ground truth" else "score"))
        if width is None:
            width = len(vals)
        elif len(vals) != width:
            raise DatasetError("%s line %d: %d values where the file's first row has %d"
                               % (path, i, len(vals), width))
        if not np.all(np.isfinite(vals[:7])):
            raise DatasetError("%s line %d: a frame, box or %s value is not a finite number: %r" % (
                path, i, "consider" if what == "ground truth" else "score", line[:60]))
        if vals[0] < 1 or vals[0] != int(vals[0]):
            raise DatasetError("%s line %d: frame %r is not a 1-based frame number" % (path, i, parts[0]))
        if vals[4] <= 0 or vals[5] <= 0:
            raise DatasetError("%s line %d: box width and height must be positive" % (path, i))
        rows.append(vals)
    if not rows and not allow_empty:
        raise DatasetError("%s is empty: no %s" % (path, what))
    return np.asarray(rows, np.float64).reshape(-1, width or min_cols)


def detections_by_frame(rows, length):
    # type: (np.ndarray, int) -> list
    """det.txt rows -> per frame 1..length: (boxes xyxy [N,4], scores [N]). Rows beyond `length` are an error."""
    frames = rows[:, 0].astype(np.int64)
    if len(frames) and frames.max() > length:
        raise DatasetError("detections reach frame %d but the sequence has %d frames (seqinfo.ini)"
                           % (frames.max(), length))
    order = np.argsort(frames, kind="stable")
    rows, frames = rows[order], frames[order]
    bounds = np.searchsorted(frames, np.arange(1, length + 2))
    out = []
    for k in range(length):
        r = rows[bounds[k]:bounds[k + 1]]
        boxes = np.stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]], axis=1) if len(r) else \
            np.zeros((0, 4))
        out.append((boxes, r[:, 6].copy()))
    return out


def format_mot_rows(frame, ids, boxes, scores):
    # type: (int, list, list, list) -> str
    """MOTChallenge tracker lines of one frame (1-based `frame`; boxes xyxy)."""
    lines = []
    for i, b, s in zip(ids, boxes, scores):
        lines.append("%d,%d,%.2f,%.2f,%.2f,%.2f,%.4f,-1,-1,-1\n" % (frame, i, b[0], b[1], b[2] - b[0], b[3] - b[1], s))
    return "".join(lines)
