"""Labeled image sets in the traffic-dev format: `annotations.json` next to an `images/` tree.

Every problem with a dataset (no annotations file, bad JSON, a listed image that is missing, an unknown class name, a
malformed box) raises DatasetError with one line that names the file and the image.
"""
import json
import os

import numpy as np

from ..errors import DatasetError
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
    images = [_parse_image(i, rec, root, ann, classes) for i, rec in enumerate(doc["images"])]
    if not images:
        raise DatasetError("%s lists no images" % ann)
    seen = set()
    for im in images:
        if im.image in seen:
            raise DatasetError("%s: image %s is listed twice" % (ann, im.image))
        seen.add(im.image)
    if check_images:
        missing = [im.image for im in images if not os.path.isfile(im.path)]
        if missing:
            more = " (and %d more)" % (len(missing) - 1) if len(missing) > 1 else ""
            raise DatasetError("%s: image %s does not exist%s" % (ann, os.path.join(root, missing[0]), more))
    return Dataset(root, classes, images)


def _parse_image(i, rec, root, ann, classes):
    if not isinstance(rec, dict) or not isinstance(rec.get("image"), str):
        raise DatasetError("%s: images[%d] has no \"image\" path" % (ann, i))
    name = rec["image"]
    where = "%s: image %s" % (ann, name)

    def class_id(c, field):
        if c not in classes:
            raise DatasetError("%s: unknown class %r in %s (dataset classes: %s)"
                               % (where, c, field, ", ".join(classes)))
        return TRAFFIC_CLASSES.index(c)

    boxes = rec.get("boxes", [])
    if not isinstance(boxes, list):
        raise DatasetError("%s: \"boxes\" must be a list" % where)
    xyxy, cids, diff = [], [], []
    for j, b in enumerate(boxes):
        if not isinstance(b, dict) or "cls" not in b or "xyxy" not in b:
            raise DatasetError("%s: box %d needs \"cls\" and \"xyxy\"" % (where, j))
        cids.append(class_id(b["cls"], "boxes"))
        xyxy.append(_box(b["xyxy"], "%s: box %d" % (where, j)))
        diff.append(bool(b.get("difficult", False)))
    regions = [_box(r, "%s: ignore region %d" % (where, j)) for j, r in enumerate(rec.get("ignore_regions") or [])]
    for field in ("exhaustive", "partial"):
        if not isinstance(rec.get(field, []), list):
            raise DatasetError("%s: \"%s\" must be a list of class names" % (where, field))
    exhaustive = frozenset(class_id(c, "exhaustive") for c in rec.get("exhaustive", []))
    partial = frozenset(class_id(c, "partial") for c in rec.get("partial", []))
    return ImageAnnotation(
        i, name, os.path.normpath(os.path.join(root, name)), str(rec.get("source") or _source_of(name)),
        int(rec.get("width") or 0), int(rec.get("height") or 0),
        np.asarray(xyxy, np.float64).reshape(-1, 4), np.asarray(cids, np.int32), np.asarray(diff, bool),
        exhaustive, partial, np.asarray(regions, np.float64).reshape(-1, 4))


def _box(v, where):
    try:
        b = [float(x) for x in v]
    except (TypeError, ValueError):
        b = []
    if len(b) != 4 or not all(np.isfinite(b)):
        raise DatasetError("%s: expected [x1, y1, x2, y2] numbers, got %r" % (where, v))
    if b[2] <= b[0] or b[3] <= b[1]:
        raise DatasetError("%s: empty box %r (needs x2 > x1 and y2 > y1)" % (where, v))
    return b


def _source_of(name):
    parts = name.replace("\\", "/").split("/")
    return parts[-2] if len(parts) >= 2 else "images"
