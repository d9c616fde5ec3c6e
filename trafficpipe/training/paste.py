"""Copy-paste augmentation for rare classes (as Ghiasi et al., "Simple Copy-Paste"): labeled objects of a class are
cut out of the training images, with a little context, and pasted at a new scale into other training images, so a
class with few labeled instances (traffic-train's 22 traffic lights) is met in many scenes and places. A DrawnBank
holds drawn objects (synth_lights.py) instead, pasted the same way through their own alpha.

A pasted patch is feathered into its new scene, is placed where it covers no labeled object (nor an ignore region)
by more than `max_cover` of that object's area, and adds its box to the image's labels. Where the image does not label
the class at all, the class becomes partly labeled there (the pasted object is a positive, the rest stays unknown).
"""
import cv2
import numpy as np

from ..errors import DatasetError
from ..eval.matching import inside_fraction
from .synth_lights import render

MARGIN = 0.15  # context cut around an object, a fraction of its width and height on each side
MIN_SIDE = 8  # pixels: smaller objects are not pasted
CUT_SCALE = (0.6, 1.6)  # a cut object pasted at this range of its size
DRAWN_SCALE = (0.3, 2.0)  # a drawn light (lamps of 9-16 px radius) pasted at this range of its size


class Bank(object):
    """Objects to paste: `classes` {class id: probability that a training view gets some}, `entries` {class id:
    [(image index or -1, patch, box(es) in patch pixels, alpha or None), ...]}, `scale` (the size range they are
    pasted at) and `kind` (its name in the log)."""
    classes = {}  # type: dict
    entries = {}  # type: dict

    def __len__(self):
        return sum(len(v) for v in self.entries.values())

    def counts(self):
        # type: () -> dict
        """{class id: boxes held}."""
        return {k: sum(np.reshape(e[2], (-1, 4)).shape[0] for e in v) for k, v in self.entries.items()}

    def has_others(self, k, i):
        # type: (int, int) -> bool
        """Whether the bank holds an object of class `k` not cut from image `i`."""
        return any(e[0] != i for e in self.entries.get(k, ()))

    def draw(self, k, i, rng):
        # type: (int, int, object) -> tuple
        """A random entry of class `k` not cut from image `i` (has_others(k, i) must hold): an image never gets its
        own objects back."""
        entries = self.entries[k]
        while True:
            e = entries[int(rng.integers(0, len(entries)))]
            if e[0] != i:
                return e


class ObjectBank(Bank):
    """The pasteable objects of a dataset, cut once: {class id: [(image index, patch, box in patch pixels, None), ...]}
    for every non-difficult box of the chosen classes at least MIN_SIDE pixels on each side."""

    def __init__(self, dataset, classes):
        # type: (object, dict) -> None
        """`classes`: {class id: probability that a training view gets objects of that class pasted}."""
        self.classes = dict(classes)
        self.kind = "copy-paste"
        self.scale = CUT_SCALE
        self.entries = {k: [] for k in self.classes}
        for i, im in enumerate(dataset.images):
            wanted = [(box, int(k)) for box, k, hard in zip(im.boxes, im.class_ids, im.difficult)
                      if int(k) in self.entries and not hard and min(box[2] - box[0], box[3] - box[1]) >= MIN_SIDE]
            if not wanted:
                continue
            image = cv2.imread(im.path, cv2.IMREAD_COLOR)
            if image is None:
                raise DatasetError("cannot read image %s" % im.path)
            for box, k in wanted:
                patch, pbox = cut(image, np.asarray(box, np.float32))
                self.entries[k].append((i, patch.copy(), pbox, None))


class DrawnBank(Bank):
    """Drawn objects of one class (synth_lights.render for traffic lights), drawn once: the ObjectBank interface, with
    image index -1 and each patch's alpha."""

    def __init__(self, k, probability, count=400, seed=0):
        # type: (int, float, int, int) -> None
        rng = np.random.default_rng([seed, 7])
        self.classes = {k: float(probability)}
        self.kind = "drawn lights"
        self.scale = DRAWN_SCALE
        self.entries = {k: []}
        for _ in range(int(count)):
            patch, alpha, pboxes = render(rng)
            self.entries[k].append((-1, patch, pboxes, alpha))


def cut(image, box):
    # type: (np.ndarray, np.ndarray) -> tuple
    """(patch with MARGIN of context, the object's box in patch pixels)."""
    h, w = image.shape[:2]
    bw, bh = box[2] - box[0], box[3] - box[1]
    x0 = int(max(0, np.floor(box[0] - MARGIN * bw)))
    y0 = int(max(0, np.floor(box[1] - MARGIN * bh)))
    x1 = int(min(w, np.ceil(box[2] + MARGIN * bw)))
    y1 = int(min(h, np.ceil(box[3] + MARGIN * bh)))
    return image[y0:y1, x0:x1], box - np.array([x0, y0, x0, y0], np.float32)


def feather(h, w):
    # type: (int, int) -> np.ndarray
    """float32 [h,w,1] blend weights: 1 inside, falling linearly to 0 over the outer margin."""
    def ramp(n):
        edge = max(1.0, n * MARGIN)
        x = np.arange(n, dtype=np.float32) + 0.5
        return np.clip(np.minimum(x, n - x) / edge, 0.0, 1.0)
    return (ramp(h)[:, None] * ramp(w)[None, :])[:, :, None]


def paste(image, boxes, labels, ignore, patch, pbox, k, rng, scale=CUT_SCALE, max_cover=0.2, tries=10, alpha=None):
    # type: (np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, object, tuple, float, int,
    #        object) -> tuple
    """`patch` (whose objects, of class `k`, are at `pbox`: [4] or [n,4]) pasted into `image` at a random place and
    scale: (image, boxes, labels); unchanged when no place within `tries` covers the image's objects little enough.
    `alpha` (float32 [h,w,1], a drawn patch's coverage) blends it in; a cut patch is feathered at its margin."""
    h, w = image.shape[:2]
    ph, pw = patch.shape[:2]
    pbox = np.asarray(pbox, np.float32).reshape(-1, 4)
    s = rng.uniform(scale[0], scale[1])
    s = min(s, 0.9 * w / float(pw), 0.9 * h / float(ph))
    nw, nh = int(round(pw * s)), int(round(ph * s))
    sides = np.minimum(pbox[:, 2] - pbox[:, 0], pbox[:, 3] - pbox[:, 1]) * s
    if min(nw, nh) < 4 or sides.min() < MIN_SIDE / 2.0:
        return image, boxes, labels
    occupied = np.concatenate([boxes.reshape(-1, 4), ignore.reshape(-1, 4)])
    for _ in range(tries):
        x0 = int(rng.integers(0, w - nw + 1))
        y0 = int(rng.integers(0, h - nh + 1))
        new_boxes = pbox * s + np.array([x0, y0, x0, y0], np.float32)
        region = np.array([[x0, y0, x0 + nw, y0 + nh]], np.float32)
        if occupied.shape[0] and inside_fraction(occupied, region).max() > max_cover:
            continue
        src = cv2.resize(patch, (nw, nh), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        if alpha is None:
            weight = feather(nh, nw)
        else:
            weight = cv2.resize(alpha, (nw, nh), interpolation=cv2.INTER_LINEAR).reshape(nh, nw, 1)
        out = image.copy()
        roi = out[y0:y0 + nh, x0:x0 + nw].astype(np.float32)
        out[y0:y0 + nh, x0:x0 + nw] = (weight * src + (1.0 - weight) * roi + 0.5).astype(np.uint8)
        return (out, np.concatenate([boxes.reshape(-1, 4), new_boxes]).astype(np.float32),
                np.concatenate([labels, np.full((new_boxes.shape[0],), k, labels.dtype)]))
    return image, boxes, labels
