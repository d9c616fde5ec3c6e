"""Training augmentation for fixed traffic cameras (numpy/OpenCV only): random scale/crop, plain resize to the
model's square input (as the PicoDet adapter resizes at inference), horizontal flip and colour jitter.

Every frame is squashed to the square input whatever its shape, so objects reach the model with the frame's aspect
distortion: a 1242x375 KITTI-like frame squeezes them about 3x horizontally. Some crops are therefore wide strips
(`wide_p`, crop aspect `wide_aspect` times the image's), which teach that squeeze from 4:3 and square frames.

Boxes are float32 [N,4] xyxy pixels. A box cut by the crop keeps its label when at least `min_visible` of it stays
in view; a box cut more than that becomes an ignore region (no negatives taught on a half-visible object).
"""
import cv2
import numpy as np


class AugmentConfig(object):
    """Probabilities and ranges of the augmentations (defaults tuned for 300-1250 px traffic frames)."""

    def __init__(self, crop_p=0.7, min_scale=0.4, max_aspect_jitter=1.3, wide_p=0.25, wide_aspect=(1.5, 3.5),
                 min_visible=0.45, flip_p=0.5, hue=0.015, saturation=0.6, value=0.35, gray_p=0.05, blur_p=0.05):
        self.crop_p = crop_p
        self.min_scale = min_scale
        self.max_aspect_jitter = max_aspect_jitter
        self.wide_p = wide_p
        self.wide_aspect = tuple(wide_aspect)
        self.min_visible = min_visible
        self.flip_p = flip_p
        self.hue = hue
        self.saturation = saturation
        self.value = value
        self.gray_p = gray_p
        self.blur_p = blur_p

    def to_dict(self):
        # type: () -> dict
        return dict(self.__dict__)


def random_crop(image, boxes, rng, cfg):
    # type: (np.ndarray, np.ndarray, np.random.Generator, AugmentConfig) -> tuple
    """A random window of `min_scale`..1 of the image side (aspect jittered, or a wide strip): (crop, (x0, y0) offset,
    kept box mask, boxes in crop coordinates [N,4] (rows of dropped boxes too), ignore regions [M,4] of boxes cut
    below `min_visible`)."""
    h, w = image.shape[:2]
    if cfg.wide_p > 0 and rng.random() < cfg.wide_p:  # a wide strip: full-ish width, a band of the height
        fw = rng.uniform(max(cfg.min_scale, 0.6), 1.0)
        fh = fw / rng.uniform(cfg.wide_aspect[0], cfg.wide_aspect[1])
    else:
        s = rng.uniform(cfg.min_scale, 1.0)
        a = np.exp(rng.uniform(-np.log(cfg.max_aspect_jitter), np.log(cfg.max_aspect_jitter)))
        fw, fh = s * np.sqrt(a), s / np.sqrt(a)
    cw = int(round(min(1.0, fw) * w))
    ch = int(round(min(1.0, fh) * h))
    cw, ch = max(cw, 8), max(ch, 8)
    x0 = int(rng.integers(0, w - cw + 1))
    y0 = int(rng.integers(0, h - ch + 1))
    crop = image[y0:y0 + ch, x0:x0 + cw]
    b = boxes - np.array([x0, y0, x0, y0], np.float32)
    clipped = b.copy()
    np.clip(clipped[:, 0::2], 0, cw, out=clipped[:, 0::2])
    np.clip(clipped[:, 1::2], 0, ch, out=clipped[:, 1::2])
    area = np.maximum(b[:, 2] - b[:, 0], 1e-6) * np.maximum(b[:, 3] - b[:, 1], 1e-6)
    vis = (clipped[:, 2] - clipped[:, 0]).clip(0) * (clipped[:, 3] - clipped[:, 1]).clip(0)
    frac = vis / area
    keep = (frac >= cfg.min_visible) & ((clipped[:, 2] - clipped[:, 0]) >= 2) & ((clipped[:, 3] - clipped[:, 1]) >= 2)
    ignore = clipped[(~keep) & (vis > 0)]
    return crop, (x0, y0), keep, clipped, ignore


def colour_jitter(image, rng, cfg):
    # type: (np.ndarray, np.random.Generator, AugmentConfig) -> np.ndarray
    """HSV gains through lookup tables (YOLO style), sometimes grey or slightly blurred. BGR uint8 in and out."""
    gains = rng.uniform(-1, 1, 3) * np.array([cfg.hue, cfg.saturation, cfg.value]) + 1
    hue, sat, val = cv2.split(cv2.cvtColor(image, cv2.COLOR_BGR2HSV))
    x = np.arange(256, dtype=np.float32)
    lut_h = ((x * gains[0]) % 180).astype(np.uint8)
    lut_s = np.clip(x * gains[1], 0, 255).astype(np.uint8)
    lut_v = np.clip(x * gains[2], 0, 255).astype(np.uint8)
    hsv = cv2.merge((cv2.LUT(hue, lut_h), cv2.LUT(sat, lut_s), cv2.LUT(val, lut_v)))
    out = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    if rng.random() < cfg.gray_p:
        out = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    if rng.random() < cfg.blur_p:
        out = cv2.GaussianBlur(out, (3, 3), 0)
    return out


def augment(image, boxes, ignore, size, rng, cfg):
    # type: (np.ndarray, np.ndarray, np.ndarray, int, np.random.Generator, AugmentConfig) -> tuple
    """One training view: (BGR uint8 [size,size,3], kept box mask [N], boxes [k,4], ignore regions [m,4]) with
    boxes and regions in the output's pixels. `ignore` are the image's own ignore regions."""
    keep = np.ones((boxes.shape[0],), bool)
    extra = np.zeros((0, 4), np.float32)
    if cfg.crop_p > 0 and rng.random() < cfg.crop_p:
        image, (x0, y0), keep, boxes, extra = random_crop(image, boxes, rng, cfg)
        ignore = ignore.reshape(-1, 4) - np.array([x0, y0, x0, y0], np.float32)
        np.clip(ignore[:, 0::2], 0, image.shape[1], out=ignore[:, 0::2])
        np.clip(ignore[:, 1::2], 0, image.shape[0], out=ignore[:, 1::2])
        ignore = ignore[(ignore[:, 2] > ignore[:, 0]) & (ignore[:, 3] > ignore[:, 1])]
    h, w = image.shape[:2]
    sx, sy = size / float(w), size / float(h)
    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
    scale = np.array([sx, sy, sx, sy], np.float32)
    boxes = boxes[keep] * scale
    ignore = np.concatenate([ignore.reshape(-1, 4), extra]).astype(np.float32) * scale
    if rng.random() < cfg.flip_p:
        image = image[:, ::-1]
        boxes = np.stack([size - boxes[:, 2], boxes[:, 1], size - boxes[:, 0], boxes[:, 3]], 1).reshape(-1, 4)
        ignore = np.stack([size - ignore[:, 2], ignore[:, 1], size - ignore[:, 0], ignore[:, 3]], 1).reshape(-1, 4)
    image = colour_jitter(np.ascontiguousarray(image), rng, cfg)
    return image, keep, boxes.astype(np.float32), ignore.astype(np.float32)


def plain(image, boxes, ignore, size):
    # type: (np.ndarray, np.ndarray, np.ndarray, int) -> tuple
    """The inference view (no augmentation): plain resize to size x size."""
    h, w = image.shape[:2]
    sx, sy = size / float(w), size / float(h)
    scale = np.array([sx, sy, sx, sy], np.float32)
    out = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
    return out, np.ones((boxes.shape[0],), bool), (boxes * scale).astype(np.float32), \
        (ignore.reshape(-1, 4) * scale).astype(np.float32)
