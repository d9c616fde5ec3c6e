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
    m = mask[:, :, None]
    col = np.asarray(color, np.float32)[None, None, :]
    if shade is not None:
        col = col * shade[:, :, None]
    img[:] = img * (1.0 - m) + col * m


def _arrow(mask, cx, cy, r, angle):
    pts = np.array([[0.0, -0.75], [0.55, -0.05], [0.2, -0.05], [0.2, 0.7], [-0.2, 0.7], [-0.2, -0.05],
                    [-0.55, -0.05]], np.float32)
    c, s = math.cos(angle), math.sin(angle)
    pts = pts.dot(np.array([[c, s], [-s, c]], np.float32)) * r + np.array([cx, cy], np.float32)
    cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1.0)


def _housing(rng):
    """One housing on its own canvas: (img float32 [h,w,3], alpha float32 [h,w], box [4])."""
    r = rng.uniform(9.0, 16.0)
    n = int(rng.choice([1, 2, 3, 4, 5], p=[0.07, 0.05, 0.68, 0.12, 0.08]))
    vertical = rng.random() >= 0.15
    gap, pad = r * rng.uniform(0.2, 0.7), r * rng.uniform(0.25, 0.6)
    along, across = n * 2 * r + (n - 1) * gap + 2 * pad, 2 * r + 2 * pad
    hw, hh = (across, along) if vertical else (along, across)
    m = int(math.ceil(0.5 * max(hw, hh))) + 4
    H, W = int(math.ceil(hh)) + 2 * m, int(math.ceil(hw)) + 2 * m
    img = np.zeros((H, W, 3), np.float32)
    alpha = np.zeros((H, W), np.float32)
    x0, y0 = float(m), float(m)
    box = [x0, y0, x0 + hw, y0 + hh]
    ys = np.linspace(0.0, 1.0, H, dtype=np.float32)[:, None] * np.ones((1, W), np.float32)
    xs = np.linspace(0.0, 1.0, W, dtype=np.float32)[None, :] * np.ones((H, 1), np.float32)
    shade = (1.0 + rng.uniform(-0.35, 0.35) * (ys - 0.5) + rng.uniform(-0.3, 0.3) * (xs - 0.5)).clip(0.4, 1.6)
    hcol = _housing_color(rng)
    if rng.random() < 0.5:  # pole, above or below (vertical) or at a side
        pw = r * rng.uniform(0.35, 0.9)
        pole = np.zeros((H, W), np.float32)
        pcol = np.full(3, rng.uniform(40, 170), np.float32) + rng.uniform(-8, 8, 3)
        cx = (box[0] + box[2]) / 2.0 + rng.uniform(-0.2, 0.2) * hw
        if vertical and rng.random() < 0.8:
            ya, yb = (box[3] - 2, H) if rng.random() < 0.6 else (0, box[1] + 2)
            cv2.rectangle(pole, (int(cx - pw / 2), int(ya)), (int(cx + pw / 2), int(yb)), 1.0, -1)
        else:
            cy = (box[1] + box[3]) / 2.0
            xa, xb = (box[2] - 2, W) if rng.random() < 0.5 else (0, box[0] + 2)
            cv2.rectangle(pole, (int(xa), int(cy - pw / 2)), (int(xb), int(cy + pw / 2)), 1.0, -1)
        _fill(img, pole, pcol, shade)
        alpha = np.maximum(alpha, pole)
    if rng.random() < 0.3:  # backplate
        ex, ey = r * rng.uniform(0.4, 0.9), r * rng.uniform(0.15, 0.5)
        if not vertical:
            ex, ey = ey, ex
        bx = [box[0] - ex, box[1] - ey, box[2] + ex, box[3] + ey]
        plate = np.zeros((H, W), np.float32)
        _rounded_rect(plate, bx[0], bx[1], bx[2], bx[3], r * rng.uniform(0, 0.4))
        border = rng.random()
        if border < 0.6:
            edge = r * rng.uniform(0.1, 0.25)
            _fill(img, plate, (35, 200, 235) if border < 0.4 else (225, 225, 225), shade)
            inner = np.zeros((H, W), np.float32)
            _rounded_rect(inner, bx[0] + edge, bx[1] + edge, bx[2] - edge, bx[3] - edge, r * 0.2)
            _fill(img, inner, _jitter(rng, (22, 22, 22), 10), shade)
        else:
            _fill(img, plate, _jitter(rng, (22, 22, 22), 10), shade)
        alpha = np.maximum(alpha, plate)
        box = bx
    body = np.zeros((H, W), np.float32)
    _rounded_rect(body, x0, y0, x0 + hw, y0 + hh, r * rng.uniform(0.1, 0.6))
    _fill(img, body, hcol, shade)
    alpha = np.maximum(alpha, body)
    centers = []
    for j in range(n):
        t = pad + r + j * (2 * r + gap)
        centers.append((x0 + hw / 2.0, y0 + t) if vertical else (x0 + t, y0 + hh / 2.0))
    lit = int(rng.integers(0, n)) if rng.random() < 0.88 else -1
    if n == 3 and vertical:
        lit_color = SIDE_LIT[lit] if lit >= 0 else None
    else:
        lit_color = SIDE_LIT[int(rng.integers(0, 3))]
    visor = rng.random() < 0.45
    led = rng.random() < 0.35
    glow = np.zeros((H, W, 3), np.float32)
    for j, (cx, cy) in enumerate(centers):
        lens = np.zeros((H, W), np.float32)
        cv2.circle(lens, (int(round(cx)), int(round(cy))), int(round(r)), 1.0, -1, cv2.LINE_AA)
        tint = np.asarray(LIT[SIDE_LIT[j % 3] if (n == 3 and vertical) else lit_color], np.float32)
        if j == lit:
            color = _jitter(rng, LIT[lit_color], 20)
            shape = lens
            if rng.random() < 0.12:  # an arrow on a dark lens
                _fill(img, lens, _jitter(rng, (15, 15, 15), 8))
                shape = np.zeros((H, W), np.float32)
                _arrow(shape, cx, cy, r * 0.9, rng.choice([0.0, -math.pi / 2, math.pi / 2]))
            _fill(img, shape, color)
            core = np.zeros((H, W), np.float32)
            cv2.circle(core, (int(round(cx)), int(round(cy))), int(round(r * rng.uniform(0.3, 0.7))), 1.0, -1)
            core = cv2.GaussianBlur(core, (0, 0), r * 0.3) * shape
            _fill(img, core * rng.uniform(0.2, 0.6), (255, 255, 255))
            if led:
                dots = 0.75 + 0.25 * np.cos(xs * W * 2.2) * np.cos(ys * H * 2.2)
                img[:] = img * (1.0 - shape[:, :, None] * (1.0 - dots[:, :, None]))
            glow += cv2.GaussianBlur(shape, (0, 0), r * rng.uniform(0.4, 1.0))[:, :, None] * color[None, None, :]
        else:
            color = np.clip(tint * rng.uniform(0.06, 0.22) + rng.uniform(8, 30), 0, 255)
            _fill(img, lens, color)
            if rng.random() < 0.5:  # a highlight on the glass
                spot = np.zeros((H, W), np.float32)
                cv2.ellipse(spot, (int(cx - 0.3 * r), int(cy - 0.35 * r)), (int(r * 0.35) + 1, int(r * 0.2) + 1),
                            -30, 0, 360, 1.0, -1)
                _fill(img, cv2.GaussianBlur(spot, (0, 0), 1.0) * rng.uniform(0.15, 0.4), (230, 230, 230))
        if visor:
            hood = np.zeros((H, W), np.float32)
            ext = r * rng.uniform(1.05, 1.3)
            ang = 0 if vertical else rng.choice([0, 90])
            cv2.ellipse(hood, (int(round(cx)), int(round(cy))), (int(ext), int(ext)), 180 + ang, 0, 180, 1.0,
                        max(1, int(r * rng.uniform(0.2, 0.45))), cv2.LINE_AA)
            _fill(img, hood, hcol * rng.uniform(0.45, 0.8), shade)
            alpha = np.maximum(alpha, hood)
            ys_h, xs_h = np.nonzero(hood > 0.5)
            if ys_h.size:
                box = [min(box[0], xs_h.min()), min(box[1], ys_h.min()), max(box[2], xs_h.max() + 1),
                       max(box[3], ys_h.max() + 1)]
    gw = rng.uniform(0.1, 0.5)
    img += glow * gw
    alpha = np.maximum(alpha, np.clip(glow.max(axis=2) / 255.0 * gw, 0, 1))
    return img, alpha, np.asarray(box, np.float32)


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
