"""Labeled image sets in the traffic-dev format: `annotations.json` next to an `images/` tree.

Every problem with a dataset (no annotations file, bad JSON, a listed image that is missing, an unknown class name, a
malformed box, a value of the wrong JSON type) raises DatasetError with one line that names the file and the image.
`width`/`height` (read from the image where left out) bound the boxes: a box or ignore region wholly outside its image
is an error, one reaching past its edge is clipped to it (one warning for the whole set).
"""
import json
import math
import os

import numpy as np

from ..errors import DatasetError
from ..log import logger
from ..models.classes import TRAFFIC_CLASSES

ANNOTATIONS_FILE = "annotations.json"


class ImageAnnotation(object):
    """The labels of one image. Boxes are float64 [N,4] xyxy pixels; class ids index TRAFFIC_CLASSES.

    `exhaustive` / `partial` are frozensets of class ids; `ignore_regions` float64 [M,4] xyxy.
    """

    __slots__ = ("index", "image", "path", "source", "width", "height", "boxes", "class_ids", "difficult",
                 "exhaustive", "partial", "ignore_regions")

    def __init__(self, index, image, path, source, width, height, boxes, class_ids, difficult, exhaustive, partial,
                 ignore_regions):
        self.index = index
        self.image = image  # the path as written in annotations.json (the key of detections_by_image)
        self.path = path  # absolute path of the file
        self.source = source
        self.width = width
        self.height = height
        self.boxes = boxes
        self.class_ids = class_ids
        self.difficult = difficult
        self.exhaustive = exhaustive
        self.partial = partial
        self.ignore_regions = ignore_regions

    def __repr__(self):
        return "ImageAnnotation(%r, %d boxes)" % (self.image, len(self.class_ids))


class Dataset(object):
    """A labeled image set: `root` folder, `classes` (names, TRAFFIC_CLASSES order) and `images` (ImageAnnotation)."""

    def __init__(self, root, classes, images, name=None):
        self.root = root
        self.classes = tuple(classes)
        self.images = list(images)
        self.name = name or os.path.basename(os.path.normpath(root))
        for i, im in enumerate(self.images):
            im.index = i

    def __len__(self):
        return len(self.images)

    @property
    def paths(self):
        # type: () -> list
        """Absolute image paths, in dataset order."""
        return [im.path for im in self.images]

    @property
    def sources(self):
        # type: () -> list
        """Source names in order of first appearance."""
        seen = []
        for im in self.images:
            if im.source not in seen:
                seen.append(im.source)
        return seen

    def subset(self, indices=None, source=None, limit=None):
        # type: (list, str, int) -> Dataset
        """A new Dataset of some images: by index list, by `source` name, and/or the first `limit` of them."""
        ims = self.images if indices is None else [self.images[i] for i in indices]
        if source is not None:
            ims = [im for im in ims if im.source == source]
        if limit is not None:
            ims = ims[:int(limit)]
        copies = [ImageAnnotation(0, im.image, im.path, im.source, im.width, im.height, im.boxes, im.class_ids,
                                  im.difficult, im.exhaustive, im.partial, im.ignore_regions) for im in ims]
        return Dataset(self.root, self.classes, copies, self.name)

    def __repr__(self):
        return "Dataset(%r, %d images)" % (self.root, len(self.images))


def load_dataset(path, check_images=True):
    # type: (str, bool) -> Dataset
    """Read and validate a dataset folder (or its annotations.json). Raises DatasetError with one line."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        root, ann = path, os.path.join(path, ANNOTATIONS_FILE)
    elif os.path.isfile(path):
        if not path.lower().endswith(".json"):
            raise DatasetError("%s is a file, not a labeled set: expected a folder with %s (the traffic-dev format), "
                               "that .json file, or MOTChallenge sequences" % (path, ANNOTATIONS_FILE))
        root, ann = os.path.dirname(path), path
    else:
        raise DatasetError("dataset %s does not exist" % path)
    if not os.path.isfile(ann):
        raise DatasetError("dataset folder %s has no %s (expected the traffic-dev format: {\"classes\", \"images\"}, "
                           "or a MOTChallenge sequence: img1/, gt/gt.txt, seqinfo.ini)"
                           % (root, ANNOTATIONS_FILE))
    try:
        with open(ann, "r") as f:
            doc = json.load(f)
    except ValueError as e:
        raise DatasetError("%s is not valid JSON: %s" % (ann, str(e).splitlines()[0]))
    except (IOError, OSError) as e:
        raise DatasetError("cannot read %s: %s" % (ann, e.strerror or e))
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise DatasetError("%s: expected an object with an \"images\" list" % ann)
    classes = doc.get("classes", list(TRAFFIC_CLASSES))
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise DatasetError("%s: \"classes\" must be a list of class names" % ann)
    unknown = [c for c in classes if c not in TRAFFIC_CLASSES]
    if unknown:
        raise DatasetError("%s: unknown class %r in \"classes\"; trafficpipe classes are %s"
                           % (ann, unknown[0], ", ".join(TRAFFIC_CLASSES)))
    classes = [c for c in TRAFFIC_CLASSES if c in classes]
    clipped = []  # type: list  # (image, what) of the boxes and regions cut to their image's edges
    images = [_parse_image(i, rec, root, ann, classes, check_images, clipped) for i, rec in enumerate(doc["images"])]
    if not images:
        raise DatasetError("%s lists no images" % ann)
    seen = {}  # type: dict  # the file an image names (however it is spelled) -> its name as first listed
    for im in images:
        key = os.path.normcase(os.path.realpath(im.path))
        if key in seen:
            also = "" if seen[key] == im.image else " (as %s and as %s)" % (seen[key], im.image)
            raise DatasetError("%s: image %s is listed twice%s" % (ann, im.image, also))
        seen[key] = im.image
    if clipped:
        logger.warning("{}: {} box{} or ignore region{} reach past the image's edge; clipped to the image (first: "
                       "image {}, {})", ann, len(clipped), "" if len(clipped) == 1 else "es",
                       "" if len(clipped) == 1 else "s", clipped[0][0], clipped[0][1])
    if check_images:
        missing = [im.image for im in images if not os.path.isfile(im.path)]
        if missing:
            more = " (and %d more)" % (len(missing) - 1) if len(missing) > 1 else ""
            raise DatasetError("%s: image %s does not exist%s" % (ann, os.path.join(root, missing[0]), more))
    return Dataset(root, classes, images)


def _parse_image(i, rec, root, ann, classes, check_images=True, clipped=None):
    if not isinstance(rec, dict) or not isinstance(rec.get("image"), str) or not rec["image"].strip():
        raise DatasetError("%s: images[%d] has no \"image\" path" % (ann, i))
    name = rec["image"]
    where = "%s: image %s" % (ann, name)
    path = os.path.normpath(os.path.join(root, name))

    def class_id(c, field):
        if not isinstance(c, str) or c not in classes:
            raise DatasetError("%s: unknown class %s in %s (dataset classes: %s)"
                               % (where, _short(c), field, ", ".join(classes)))
        return TRAFFIC_CLASSES.index(c)

    source = rec.get("source")
    if source is not None and not isinstance(source, str):
        raise DatasetError("%s: \"source\" must be a name (a string), got %s" % (where, _short(source)))
    width, height = _size(rec, "width", where), _size(rec, "height", where)
    if (width is None or height is None) and check_images and os.path.isfile(path):
        width, height = _read_size(path, width, height, where)
    width, height = width or 0, height or 0  # 0: not known (not given, and the image not read)

    def checked(v, what):
        b = _box(v, "%s: %s" % (where, what))
        if not (width and height):
            return b
        if b[2] <= 0 or b[3] <= 0 or b[0] >= width or b[1] >= height:
            raise DatasetError("%s: %s: %s lies wholly outside the %dx%d image"
                               % (where, what, _short(v), width, height))
        cut = [max(b[0], 0.0), max(b[1], 0.0), min(b[2], float(width)), min(b[3], float(height))]
        if cut != b and clipped is not None:
            clipped.append((name, what))
        return cut

    boxes = rec.get("boxes", [])
    if not isinstance(boxes, list):
        raise DatasetError("%s: \"boxes\" must be a list, got %s" % (where, _short(boxes)))
    xyxy, cids, diff = [], [], []
    for j, b in enumerate(boxes):
        if not isinstance(b, dict) or "cls" not in b or "xyxy" not in b:
            raise DatasetError("%s: box %d needs \"cls\" and \"xyxy\"" % (where, j))
        cids.append(class_id(b["cls"], "boxes"))
        xyxy.append(checked(b["xyxy"], "box %d" % j))
        d = b.get("difficult", False)
        if not isinstance(d, bool):
            raise DatasetError("%s: box %d: \"difficult\" must be true or false (a JSON boolean), got %s"
                               % (where, j, _short(d)))
        diff.append(d)
    given = rec.get("ignore_regions")
    if given is None:
        given = []
    if not isinstance(given, list):
        raise DatasetError("%s: \"ignore_regions\" must be a list of [x1, y1, x2, y2] boxes, got %s"
                           % (where, _short(given)))
    regions = [checked(r, "ignore region %d" % j) for j, r in enumerate(given)]
    for field in ("exhaustive", "partial"):
        if not isinstance(rec.get(field, []), list):
            raise DatasetError("%s: \"%s\" must be a list of class names" % (where, field))
    exhaustive = frozenset(class_id(c, "exhaustive") for c in rec.get("exhaustive", []))
    partial = frozenset(class_id(c, "partial") for c in rec.get("partial", []))
    return ImageAnnotation(
        i, name, path, source or _source_of(name), width, height,
        np.asarray(xyxy, np.float64).reshape(-1, 4), np.asarray(cids, np.int32), np.asarray(diff, bool),
        exhaustive, partial, np.asarray(regions, np.float64).reshape(-1, 4))


def _number(x):
    # type: (object) -> bool
    """Whether `x` is a finite JSON number (true/false are not numbers)."""
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:  # an integer too large for a float
        return False


def _size(rec, field, where):
    # type: (dict, str, str) -> object
    """The image's `width` or `height`: a positive whole number of pixels, or None where it is not given."""
    v = rec.get(field)
    if v is None:
        return None
    if not _number(v) or v <= 0 or v != int(v):
        raise DatasetError("%s: \"%s\" must be a positive whole number of pixels, got %s" % (where, field, _short(v)))
    return int(v)


def _read_size(path, width, height, where):
    # type: (str, object, object, str) -> tuple
    """The width and height an annotation leaves out, read from the image itself."""
    from ..sources.images import read_image
    img, why = read_image(path)
    if img is None:
        raise DatasetError("%s: no \"width\"/\"height\" given and the image cannot be read to find them: %s"
                           % (where, why))
    return width or int(img.shape[1]), height or int(img.shape[0])


def _box(v, where):
    if not isinstance(v, list) or len(v) != 4 or not all(_number(x) for x in v):
        raise DatasetError("%s: expected [x1, y1, x2, y2] numbers, got %s" % (where, _short(v)))
    b = [float(x) for x in v]
    if b[2] <= b[0] or b[3] <= b[1]:
        raise DatasetError("%s: empty box %s (needs x2 > x1 and y2 > y1)" % (where, _short(v)))
    return b


def _short(v, limit=60):
    # type: (object, int) -> str
    """repr(v), cut to `limit` characters for a one-line message."""
    r = repr(v)
    return r if len(r) <= limit else r[:limit - 3] + "..."


def _source_of(name):
    parts = name.replace("\\", "/").split("/")
    return parts[-2] if len(parts) >= 2 else "images"
