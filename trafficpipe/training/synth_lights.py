"""Procedurally drawn traffic lights, pasted into training images where labelled lights are too few (traffic-train
labels 22): housings of 1-5 lamps, vertical or horizontal, black, grey, yellow or green, with or without a backplate
(plain, yellow- or white-bordered), visors, a pole, LED or plain lenses, one lamp lit (red, amber, green; some as
arrows) with a glow, then a small rotation, a side-on squeeze, blur and sensor noise. Two housings side by side
(each its own box) teach the model to box lamp housings one by one.

`render(rng)` gives (patch BGR uint8 [h,w,3], alpha float32 [h,w,1], boxes float32 [n,4] in patch pixels); the box
of a housing covers its backplate and visors, not its pole.
"""
import math

import cv2
import numpy as np

HOUSING = (((20, 20, 20), 12), ((55, 55, 55), 12), ((35, 175, 220), 25), ((45, 80, 45), 12), ((150, 150, 150), 15))
HOUSING_P = (0.4, 0.15, 0.25, 0.08, 0.12)
LIT = {"red": (40, 40, 245), "amber": (0, 160, 255), "green": (170, 235, 60)}
SIDE_LIT = ("red", "amber", "green")


def _jitter(rng, color, spread):
    return np.clip(np.asarray(color, np.float32) + rng.uniform(-spread, spread, 3), 0, 255)


def _housing_color(rng):
    i = int(rng.choice(len(HOUSING), p=HOUSING_P))
    color, spread = HOUSING[i]
    return _jitter(rng, color, spread)


def _rounded_rect(mask, x0, y0, x1, y1, radius, value=1.0):
    radius = int(max(0, min(radius, (x1 - x0) / 2.0, (y1 - y0) / 2.0)))
    x0, y0, x1, y1 = int(round(x0)), int(round(y0)), int(round(x1)), int(round(y1))
    cv2.rectangle(mask, (x0 + radius, y0), (x1 - radius, y1), value, -1)
    cv2.rectangle(mask, (x0, y0 + radius), (x1, y1 - radius), value, -1)
    for cx, cy in ((x0 + radius, y0 + radius), (x1 - radius, y0 + radius), (x0 + radius, y1 - radius),
                   (x1 - radius, y1 - radius)):
        cv2.circle(mask, (cx, cy), radius, value, -1)


def _fill(img, mask, color, shade=None):
    """Blends `color` (times `shade` [h,w] where given) into `img` by `mask` [h,w], over the mask's extent only."""
    x, y, w, h = cv2.boundingRect((mask > 0).astype(np.uint8))
    if w == 0 or h == 0:
        return
    region = (slice(y, y + h), slice(x, x + w))
    m = mask[region][:, :, None]
    col = np.asarray(color, np.float32)[None, None, :]
    if shade is not None:
        col = col * shade[region][:, :, None]
    img[region] = img[region] * (1.0 - m) + col * m


def _arrow(mask, cx, cy, r, angle):
    pts = np.array([[0.0, -0.75], [0.55, -0.05], [0.2, -0.05], [0.2, 0.7], [-0.2, 0.7], [-0.2, -0.05],
                    [-0.55, -0.05]], np.float32)
    c, s = math.cos(angle), math.sin(angle)
    pts = pts.dot(np.array([[c, s], [-s, c]], np.float32)) * r + np.array([cx, cy], np.float32)
    cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1.0)


class _Canvas(object):
    """One housing's drawing surface: colour, alpha, a light fall-off, the housing's geometry and its box so far."""

    def __init__(self, rng):
        self.r = rng.uniform(9.0, 16.0)  # lamp radius
        self.n = int(rng.choice([1, 2, 3, 4, 5], p=[0.07, 0.05, 0.68, 0.12, 0.08]))
        self.vertical = rng.random() >= 0.15
        r, n = self.r, self.n
        self.gap, self.pad = r * rng.uniform(0.2, 0.7), r * rng.uniform(0.25, 0.6)
        along, across = n * 2 * r + (n - 1) * self.gap + 2 * self.pad, 2 * r + 2 * self.pad
        self.hw, self.hh = (across, along) if self.vertical else (along, across)
        m = int(math.ceil(0.5 * max(self.hw, self.hh))) + 4
        self.H, self.W = int(math.ceil(self.hh)) + 2 * m, int(math.ceil(self.hw)) + 2 * m
        self.img = np.zeros((self.H, self.W, 3), np.float32)
        self.alpha = np.zeros((self.H, self.W), np.float32)
        self.body = (float(m), float(m), m + self.hw, m + self.hh)
        self.box = list(self.body)
        self.ys = np.linspace(0.0, 1.0, self.H, dtype=np.float32)[:, None] * np.ones((1, self.W), np.float32)
        self.xs = np.linspace(0.0, 1.0, self.W, dtype=np.float32)[None, :] * np.ones((self.H, 1), np.float32)
        self.shade = (1.0 + rng.uniform(-0.35, 0.35) * (self.ys - 0.5)
                      + rng.uniform(-0.3, 0.3) * (self.xs - 0.5)).clip(0.4, 1.6)

    def blank(self):
        return np.zeros((self.H, self.W), np.float32)

    def paint(self, mask, color, shaded=False, solid=True):
        """Paints `color` through `mask`; a solid part also joins the drawing's outline (alpha)."""
        _fill(self.img, mask, color, self.shade if shaded else None)
        if solid:
            self.alpha = np.maximum(self.alpha, mask)

    def grow_box(self, mask):
        ys, xs = np.nonzero(mask > 0.5)
        if ys.size:
            b = self.box
            self.box = [min(b[0], xs.min()), min(b[1], ys.min()), max(b[2], xs.max() + 1), max(b[3], ys.max() + 1)]

    def lamp_centers(self):
        x0, y0 = self.body[:2]
        for j in range(self.n):
            t = self.pad + self.r + j * (2 * self.r + self.gap)
            yield (x0 + self.hw / 2.0, y0 + t) if self.vertical else (x0 + t, y0 + self.hh / 2.0)


def _pole(rng, c):
    """A pole above or below a vertical housing, or at its side."""
    pw = c.r * rng.uniform(0.35, 0.9)
    pole = c.blank()
    pcol = np.full(3, rng.uniform(40, 170), np.float32) + rng.uniform(-8, 8, 3)
    box = c.box
    cx = (box[0] + box[2]) / 2.0 + rng.uniform(-0.2, 0.2) * c.hw
    if c.vertical and rng.random() < 0.8:
        ya, yb = (box[3] - 2, c.H) if rng.random() < 0.6 else (0, box[1] + 2)
        cv2.rectangle(pole, (int(cx - pw / 2), int(ya)), (int(cx + pw / 2), int(yb)), 1.0, -1)
    else:
        cy = (box[1] + box[3]) / 2.0
        xa, xb = (box[2] - 2, c.W) if rng.random() < 0.5 else (0, box[0] + 2)
        cv2.rectangle(pole, (int(xa), int(cy - pw / 2)), (int(xb), int(cy + pw / 2)), 1.0, -1)
    c.paint(pole, pcol, shaded=True)


def _backplate(rng, c):
    """A dark backplate around the housing, plain or with a yellow or white border; the box becomes the plate's."""
    r = c.r
    ex, ey = r * rng.uniform(0.4, 0.9), r * rng.uniform(0.15, 0.5)
    if not c.vertical:
        ex, ey = ey, ex
    bx = [c.box[0] - ex, c.box[1] - ey, c.box[2] + ex, c.box[3] + ey]
    plate = c.blank()
    _rounded_rect(plate, bx[0], bx[1], bx[2], bx[3], r * rng.uniform(0, 0.4))
    border = rng.random()
    if border < 0.6:
        edge = r * rng.uniform(0.1, 0.25)
        c.paint(plate, (35, 200, 235) if border < 0.4 else (225, 225, 225), shaded=True)
        inner = c.blank()
        _rounded_rect(inner, bx[0] + edge, bx[1] + edge, bx[2] - edge, bx[3] - edge, r * 0.2)
        c.paint(inner, _jitter(rng, (22, 22, 22), 10), shaded=True, solid=False)
    else:
        c.paint(plate, _jitter(rng, (22, 22, 22), 10), shaded=True)
    c.box = bx


def _lit_lamp(rng, c, lens, cx, cy, color_name, led):
    """The lit lamp (some as an arrow on a dark lens) with a bright core; returns its glow [h,w,3]."""
    r = c.r
    color = _jitter(rng, LIT[color_name], 20)
    shape = lens
    if rng.random() < 0.12:
        c.paint(lens, _jitter(rng, (15, 15, 15), 8), solid=False)
        shape = c.blank()
        _arrow(shape, cx, cy, r * 0.9, rng.choice([0.0, -math.pi / 2, math.pi / 2]))
    c.paint(shape, color, solid=False)
    core = c.blank()
    cv2.circle(core, (int(round(cx)), int(round(cy))), int(round(r * rng.uniform(0.3, 0.7))), 1.0, -1)
    core = cv2.GaussianBlur(core, (0, 0), r * 0.3) * shape
    c.paint(core * rng.uniform(0.2, 0.6), (255, 255, 255), solid=False)
    if led:
        dots = 0.75 + 0.25 * np.cos(c.xs * c.W * 2.2) * np.cos(c.ys * c.H * 2.2)
        c.img[:] = c.img * (1.0 - shape[:, :, None] * (1.0 - dots[:, :, None]))
    return cv2.GaussianBlur(shape, (0, 0), r * rng.uniform(0.4, 1.0))[:, :, None] * color[None, None, :]


def _dark_lamp(rng, c, lens, cx, cy, tint):
    """An unlit lens, faintly tinted, sometimes with a highlight on the glass."""
    r = c.r
    c.paint(lens, np.clip(tint * rng.uniform(0.06, 0.22) + rng.uniform(8, 30), 0, 255), solid=False)
    if rng.random() < 0.5:
        spot = c.blank()
        cv2.ellipse(spot, (int(cx - 0.3 * r), int(cy - 0.35 * r)), (int(r * 0.35) + 1, int(r * 0.2) + 1),
                    -30, 0, 360, 1.0, -1)
        c.paint(cv2.GaussianBlur(spot, (0, 0), 1.0) * rng.uniform(0.15, 0.4), (230, 230, 230), solid=False)


def _visor(rng, c, cx, cy, hcol):
    """A hood over one lamp, in a darker housing colour; it widens the box."""
    r = c.r
    hood = c.blank()
    ext = r * rng.uniform(1.05, 1.3)
    ang = 0 if c.vertical else rng.choice([0, 90])
    cv2.ellipse(hood, (int(round(cx)), int(round(cy))), (int(ext), int(ext)), 180 + ang, 0, 180, 1.0,
                max(1, int(r * rng.uniform(0.2, 0.45))), cv2.LINE_AA)
    c.paint(hood, hcol * rng.uniform(0.45, 0.8), shaded=True)
    c.grow_box(hood)


def _lamps(rng, c, hcol):
    """The lenses: one lit (or, at 12 %, none), the rest dark; visors and LED dots on some housings; the glow."""
    side = c.n == 3 and c.vertical  # red, amber, green from the top: each lens tinted by its own colour
    lit = int(rng.integers(0, c.n)) if rng.random() < 0.88 else -1
    if side:
        lit_color = SIDE_LIT[lit] if lit >= 0 else None
    else:
        lit_color = SIDE_LIT[int(rng.integers(0, 3))]
    visor = rng.random() < 0.45
    led = rng.random() < 0.35
    glow = np.zeros((c.H, c.W, 3), np.float32)
    for j, (cx, cy) in enumerate(c.lamp_centers()):
        lens = c.blank()
        cv2.circle(lens, (int(round(cx)), int(round(cy))), int(round(c.r)), 1.0, -1, cv2.LINE_AA)
        if j == lit:
            glow += _lit_lamp(rng, c, lens, cx, cy, lit_color, led)
        else:
            _dark_lamp(rng, c, lens, cx, cy, np.asarray(LIT[SIDE_LIT[j % 3] if side else lit_color], np.float32))
        if visor:
            _visor(rng, c, cx, cy, hcol)
    gw = rng.uniform(0.1, 0.5)
    c.img += glow * gw
    c.alpha = np.maximum(c.alpha, np.clip(glow.max(axis=2) / 255.0 * gw, 0, 1))


def _housing(rng):
    """One housing on its own canvas: (img float32 [h,w,3], alpha float32 [h,w], box [4])."""
    c = _Canvas(rng)
    hcol = _housing_color(rng)
    if rng.random() < 0.5:
        _pole(rng, c)
    if rng.random() < 0.3:
        _backplate(rng, c)
    body = c.blank()
    _rounded_rect(body, c.body[0], c.body[1], c.body[2], c.body[3], c.r * rng.uniform(0.1, 0.6))
    c.paint(body, hcol, shaded=True)
    _lamps(rng, c, hcol)
    return c.img, c.alpha, np.asarray(c.box, np.float32)


def _group(rng):
    """One housing, or (share 0.15) two side by side: (img, alpha, boxes [n,4])."""
    a_img, a_alpha, a_box = _housing(rng)
    if rng.random() >= 0.15:
        return a_img, a_alpha, a_box[None]
    b_img, b_alpha, b_box = _housing(rng)
    gap = (a_box[2] - a_box[0]) * rng.uniform(0.05, 0.8)
    dx = int(round(a_box[2] + gap - b_box[0]))
    dy = int(round(a_box[1] - b_box[1] + rng.uniform(-0.1, 0.1) * (a_box[3] - a_box[1])))
    oa, ob = max(-dy, 0), max(dy, 0)  # rows where a's and b's canvases start
    xa, xb = max(-dx, 0), max(dx, 0)
    H = max(oa + a_img.shape[0], ob + b_img.shape[0])
    W = max(xa + a_img.shape[1], xb + b_img.shape[1])
    img = np.zeros((H, W, 3), np.float32)
    alpha = np.zeros((H, W), np.float32)
    img[oa:oa + a_img.shape[0], xa:xa + a_img.shape[1]] = a_img
    alpha[oa:oa + a_img.shape[0], xa:xa + a_img.shape[1]] = a_alpha
    region = (slice(ob, ob + b_img.shape[0]), slice(xb, xb + b_img.shape[1]))
    bm = b_alpha[:, :, None]
    img[region] = img[region] * (1.0 - bm) + b_img * bm
    alpha[region] = np.maximum(alpha[region], b_alpha)
    boxes = np.stack([a_box + np.array([xa, oa, xa, oa], np.float32), b_box + np.array([xb, ob, xb, ob], np.float32)])
    return img, alpha, boxes


def render(rng):
    # type: (object) -> tuple
    """A drawn traffic light (or two side by side), turned, squeezed and blurred: (patch BGR uint8 [h,w,3], alpha
    float32 [h,w,1], boxes float32 [n,4] in patch pixels)."""
    img, alpha, boxes = _group(rng)
    H, W = alpha.shape
    sx = rng.uniform(0.55, 1.0) if rng.random() < 0.35 else 1.0
    M = cv2.getRotationMatrix2D((W / 2.0, H / 2.0), rng.uniform(-7, 7), 1.0)
    M[0] *= sx
    img = cv2.warpAffine(img, M, (W, H), flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(alpha, M, (W, H), flags=cv2.INTER_LINEAR)
    corners = np.stack([boxes[:, [0, 1]], boxes[:, [2, 1]], boxes[:, [0, 3]], boxes[:, [2, 3]]], 1)  # [n,4,2]
    moved = corners.dot(M[:, :2].T) + M[:, 2]
    boxes = np.concatenate([moved.min(1), moved.max(1)], 1).astype(np.float32)
    sigma = rng.uniform(0.0, 1.3)
    if sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
        alpha = cv2.GaussianBlur(alpha, (0, 0), sigma)
    img = img + rng.normal(0.0, rng.uniform(0, 6), img.shape).astype(np.float32)
    ys, xs = np.nonzero(alpha > 0.02)
    y0, y1 = max(0, ys.min() - 1), min(H, ys.max() + 2)
    x0, x1 = max(0, xs.min() - 1), min(W, xs.max() + 2)
    boxes = boxes - np.array([x0, y0, x0, y0], np.float32)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, x1 - x0)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, y1 - y0)
    patch = np.clip(img[y0:y1, x0:x1], 0, 255).astype(np.uint8)
    return patch, np.clip(alpha[y0:y1, x0:x1], 0, 1)[:, :, None], boxes
