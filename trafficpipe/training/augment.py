"""Training augmentation for fixed traffic cameras (numpy/OpenCV only): random scale/crop, horizontal flip, resize
to the model's square input as its adapter does at inference (PicoDet: plain resize; YOLOX, `letterbox`: keep-ratio
resize to the top-left of a 114 canvas) and colour jitter (of the image, not of the padding).

With the plain resize every frame is squashed to the square input whatever its shape, so objects reach the model
with the frame's aspect distortion: a 1242x375 KITTI-like frame squeezes them about 3x horizontally. Some crops are
therefore wide strips (`wide_p`, crop aspect `wide_aspect` times the image's), which teach that squeeze from 4:3 and
square frames (and, letterboxed, the thin band such frames fill in a YOLOX input).

Tile crops (`tile_p`) cut a square window of about the model's input size in the image's own pixels (`tile_scale`
times it), so objects reach the model near their native size, as they do in the tiles of tiled inference
(`models/tiling.py`): small pedestrians and traffic lights are seen at the scale the model meets them there.

Boxes are float32 [N,4] xyxy pixels. A box cut by the crop keeps its label when at least `min_visible` of it stays
in view; a box cut more than that becomes an ignore region (no negatives taught on a half-visible object).
"""
import cv2
import numpy as np

from ..models.yolox import PAD_VALUE


class AugmentConfig(object):
    """Probabilities and ranges of the augmentations (defaults tuned for 300-1250 px traffic frames)."""

    def __init__(self, crop_p=0.7, min_scale=0.4, max_aspect_jitter=1.3, wide_p=0.25, wide_aspect=(1.5, 3.5),
                 min_visible=0.45, flip_p=0.5, hue=0.015, saturation=0.6, value=0.35, gray_p=0.05, blur_p=0.05,
                 tile_p=0.0, tile_px=416, tile_scale=(0.8, 1.4)):
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
        self.tile_p = tile_p  # share of crops that are native-scale square tiles
        self.tile_px = int(tile_px)  # a tile's side in image pixels (the model's input size)
        self.tile_scale = tuple(tile_scale)

    def to_dict(self):
        # type: () -> dict
        return dict(self.__dict__)


def random_crop(image, boxes, rng, cfg):
    # type: (np.ndarray, np.ndarray, np.random.Generator, AugmentConfig) -> tuple
    """A random window of `min_scale`..1 of the image side (aspect jittered, or a wide strip): (crop, (x0, y0) offset,
    kept box mask, boxes in crop coordinates [N,4] (rows of dropped boxes too), ignore regions [M,4] of boxes cut
    below `min_visible`)."""
    h, w = image.shape[:2]
    if cfg.tile_p > 0 and rng.random() < cfg.tile_p:  # a native-scale square window, as an inference tile
        side = cfg.tile_px * rng.uniform(cfg.tile_scale[0], cfg.tile_scale[1])
        fw, fh = side / float(w), side / float(h)
    elif cfg.wide_p > 0 and rng.random() < cfg.wide_p:  # a wide strip: full-ish width, a band of the height
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


def _resize(image, size, letterbox):
    """(resized image, box scale [4]): plain resize to size x size, or keep-ratio resize by min(size/h, size/w)
    (the YOLOX adapter's sizes) when letterbox."""
    h, w = image.shape[:2]
    if letterbox:
        r = min(size / float(h), size / float(w))
        nw, nh = max(1, int(w * r)), max(1, int(h * r))
        return cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR), np.array([r, r, r, r])
    sx, sy = size / float(w), size / float(h)
    out = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
    return out, np.array([sx, sy, sx, sy], np.float32)


def _canvas(resized, size):
    """The resized image at the top-left of a size x size canvas filled with the YOLOX pad value."""
    if resized.shape[:2] == (size, size):
        return resized
    out = np.full((size, size, 3), int(PAD_VALUE), np.uint8)
    out[:resized.shape[0], :resized.shape[1]] = resized
    return out


def letterbox(image, size):
    # type: (np.ndarray, int) -> tuple
    """YOLOX's input view of a BGR uint8 image, as the YOLOX adapter makes it: (canvas [size,size,3], ratio r)."""
    resized, scale = _resize(image, size, True)
    return _canvas(resized, size), float(scale[0])


def augment(image, boxes, ignore, size, rng, cfg, letterbox=False):
    # type: (np.ndarray, np.ndarray, np.ndarray, int, np.random.Generator, AugmentConfig, bool) -> tuple
    """One training view: (BGR uint8 [size,size,3], kept box mask [N], boxes [k,4], ignore regions [m,4]) with
    boxes and regions in the output's pixels. `ignore` are the image's own ignore regions."""
    keep = np.ones((boxes.shape[0],), bool)
    ignore = ignore.reshape(-1, 4)
    if cfg.crop_p > 0 and rng.random() < cfg.crop_p:
        image, (x0, y0), keep, boxes, extra = random_crop(image, boxes, rng, cfg)
        ignore = ignore - np.array([x0, y0, x0, y0], np.float32)
        np.clip(ignore[:, 0::2], 0, image.shape[1], out=ignore[:, 0::2])
        np.clip(ignore[:, 1::2], 0, image.shape[0], out=ignore[:, 1::2])
        ignore = ignore[(ignore[:, 2] > ignore[:, 0]) & (ignore[:, 3] > ignore[:, 1])]
        ignore = np.concatenate([ignore, extra.reshape(-1, 4)])
    boxes = boxes[keep].reshape(-1, 4)
    if rng.random() < cfg.flip_p:  # before the resize: a letterbox's padding stays at the right and bottom
        w = image.shape[1]
        image = np.ascontiguousarray(image[:, ::-1])
        boxes = np.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1).reshape(-1, 4)
        ignore = np.stack([w - ignore[:, 2], ignore[:, 1], w - ignore[:, 0], ignore[:, 3]], 1).reshape(-1, 4)
    image, scale = _resize(image, size, letterbox)
    image = _canvas(colour_jitter(np.ascontiguousarray(image), rng, cfg), size)
    return image, keep, (boxes * scale).astype(np.float32), (ignore * scale).astype(np.float32)


def plain(image, boxes, ignore, size, letterbox=False):
    # type: (np.ndarray, np.ndarray, np.ndarray, int, bool) -> tuple
    """The inference view (no augmentation): plain resize to size x size, or the YOLOX letterbox."""
    out, scale = _resize(image, size, letterbox)
    return _canvas(out, size), np.ones((boxes.shape[0],), bool), (boxes * scale).astype(np.float32), \
        (ignore.reshape(-1, 4) * scale).astype(np.float32)
