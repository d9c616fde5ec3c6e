"""Training samples from a labeled dataset (the traffic-dev format, read by trafficpipe.eval.dataset).

A sample is the augmented image (uint8 [S,S,3] in the network's channel order: RGB for PicoDet, BGR for YOLOX), its
boxes and labels, its ignore regions, and the label state of each traffic class on that image: exhaustive, partial,
or not labeled at all (see losses.py for what each means to the loss). Difficult boxes are trained as ordinary boxes
(they are real objects; scoring ignores them).
"""
import os

import cv2
import numpy as np

from ..errors import DatasetError
from ..models.classes import TRAFFIC_CLASSES
from .augment import AugmentConfig, augment, plain
from .label_state import EXHAUSTIVE, PARTIAL, UNLISTED
from .paste import DrawnBank, ObjectBank, paste


def class_state(im, num_classes=len(TRAFFIC_CLASSES)):
    # type: (object, int) -> np.ndarray
    """int64 [K]: EXHAUSTIVE, PARTIAL or UNLISTED per traffic class for one ImageAnnotation. A class with boxes that
    the image lists nowhere counts as partial."""
    state = np.full((num_classes,), UNLISTED, np.int64)
    labeled = set(int(c) for c in im.class_ids.tolist())
    for k in range(num_classes):
        if k in im.exhaustive:
            state[k] = EXHAUSTIVE
        elif k in im.partial or k in labeled:
            state[k] = PARTIAL
    return state


def repeat_factors(dataset, threshold=0.3, boost=None):
    # type: (object, float, dict) -> np.ndarray
    """Sampling weight per image (LVIS repeat-factor sampling): max over its classes of max(1, sqrt(t / f(c))), f(c)
    = fraction of images holding class c. Images of rare classes (traffic lights) come up more often. `boost`
    ({class name: factor}) multiplies a class's factor further (e.g. pedestrian-rich images)."""
    n = len(dataset)
    has = np.zeros((n, len(TRAFFIC_CLASSES)), bool)
    for i, im in enumerate(dataset.images):
        has[i, np.unique(im.class_ids)] = True
    freq = np.maximum(has.mean(0), 1e-9)
    r_class = np.maximum(1.0, np.sqrt(threshold / freq))
    for name, factor in (boost or {}).items():
        r_class[TRAFFIC_CLASSES.index(name)] *= float(factor)
    return np.array([r_class[h].max() if h.any() else 1.0 for h in has])


class TrainSamples(object):
    """Indexable training samples (a torch Dataset by duck typing) with augmentation."""

    def __init__(self, dataset, imgsz=416, augment_config=None, train=True, seed=0, channels="rgb", letterbox=False,
                 paste=None, drawn_lights=0.0):
        # `paste`: {class id: probability} of copy-paste augmentation (paste.py); `drawn_lights`: probability of
        # pasting drawn traffic lights (synth_lights.py); train views only
        self.dataset = dataset
        self.channels = channels  # "rgb" or "bgr": the order the network's normalize takes
        self.letterbox = bool(letterbox)  # YOLOX's keep-ratio view (else plain resize)
        self.imgsz = int(imgsz)
        self.cfg = augment_config or AugmentConfig()
        self.train = train
        self.seed = seed
        self._rng = None
        self._pid = None
        self.states = [class_state(im) for im in dataset.images]
        self.banks = []
        if paste and train:
            self.banks.append(ObjectBank(dataset, paste))
        if drawn_lights and train:
            self.banks.append(DrawnBank(TRAFFIC_CLASSES.index("traffic_light"), drawn_lights, seed=seed))

    def __len__(self):
        return len(self.dataset)

    def rng(self):
        """A generator per process (DataLoader workers each get their own stream)."""
        if self._rng is None or self._pid != os.getpid():
            try:
                import torch
                seed = torch.initial_seed() % (2 ** 32)
            except ImportError:
                seed = self.seed
            self._rng = np.random.default_rng([self.seed, seed, os.getpid()])
            self._pid = os.getpid()
        return self._rng

    def load(self, i):
        im = self.dataset.images[i]
        image = cv2.imread(im.path, cv2.IMREAD_COLOR)
        if image is None:
            raise DatasetError("training set %s: cannot read image %s; fix or remove it"
                               % (self.dataset.root, im.image))
        return im, image

    def __getitem__(self, i):
        im, image = self.load(i)
        boxes = im.boxes.astype(np.float32).reshape(-1, 4)
        labels = im.class_ids.astype(np.int64)
        ignore = im.ignore_regions.astype(np.float32).reshape(-1, 4)
        state = self.states[i]
        if self.banks:
            image, boxes, labels, state = self.pasted(i, image, boxes, labels, ignore, state)
        if self.train:
            out, keep, boxes, ignore = augment(image, boxes, ignore, self.imgsz, self.rng(), self.cfg, self.letterbox)
        else:
            out, keep, boxes, ignore = plain(image, boxes, ignore, self.imgsz, self.letterbox)
        labels = labels[keep]
        if self.channels == "rgb":
            out = cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
        return {"image": out, "boxes": boxes, "labels": labels, "ignore": ignore, "state": state}

    def pasted(self, i, image, boxes, labels, ignore, state):
        """Image `i` with 1-3 objects of each bank's classes pasted in (at that class's probability), never its own:
        (image, boxes, labels, class states); a class the image does not label becomes partly labeled."""
        rng = self.rng()
        for bank, k, p in [(b, k, p) for b in self.banks for k, p in b.classes.items()]:
            if not bank.has_others(k, i) or rng.random() >= p:
                continue
            for _ in range(int(rng.integers(1, 4))):
                _, patch, pbox, alpha = bank.draw(k, i, rng)
                n = labels.shape[0]
                image, boxes, labels = paste(image, boxes, labels, ignore, patch, pbox, k, rng, scale=bank.scale,
                                             alpha=alpha)
                if labels.shape[0] > n and state[k] == UNLISTED:
                    state = state.copy()
                    state[k] = PARTIAL
        return image, boxes, labels, state


def collate(samples):
    """Batch dict of torch tensors: image uint8 [B,S,S,3], boxes [B,G,4], labels [B,G] (-1 = padding), valid [B,G],
    ignore [B,R,4], ignore_valid [B,R], state [B,K]."""
    import torch
    b = len(samples)
    g = max([s["boxes"].shape[0] for s in samples] + [1])
    r = max([s["ignore"].shape[0] for s in samples] + [1])
    boxes = np.zeros((b, g, 4), np.float32)
    labels = np.full((b, g), -1, np.int64)
    ign = np.zeros((b, r, 4), np.float32)
    ign_valid = np.zeros((b, r), bool)
    for i, s in enumerate(samples):
        n = s["boxes"].shape[0]
        boxes[i, :n] = s["boxes"]
        labels[i, :n] = s["labels"]
        m = s["ignore"].shape[0]
        ign[i, :m] = s["ignore"]
        ign_valid[i, :m] = True
    return {"image": torch.from_numpy(np.stack([s["image"] for s in samples])),
            "boxes": torch.from_numpy(boxes), "labels": torch.from_numpy(labels),
            "valid": torch.from_numpy(labels >= 0), "ignore": torch.from_numpy(ign),
            "ignore_valid": torch.from_numpy(ign_valid),
            "state": torch.from_numpy(np.stack([s["state"] for s in samples]))}
