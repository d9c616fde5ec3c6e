"""The live view's picture: one tile per source in a grid, each with its name and measured frame rate drawn on it."""
import math
from collections import deque

import cv2
import numpy as np

#: the largest window the view opens with (the user may resize it)
DEFAULT_MAX_SIZE = (1280, 720)


class RateMeter(object):
    """Frames per second over the last `window` seconds of `tick(t)` calls."""

    def __init__(self, window=1.0):
        self.window = window
        self.times = deque()

    def tick(self, t):
        # type: (float) -> float
        """Count a frame at time `t` (seconds) and return the rate."""
        times = self.times
        times.append(t)
        while len(times) > 2 and t - times[0] > self.window:
            times.popleft()
        span = times[-1] - times[0]
        return (len(times) - 1) / span if span > 0 else 0.0


class Layout(object):
    """`n` tiles in a grid of about as many columns as rows; a tile has the aspect of `size` (width, height; 16:9 when
    unknown) and the whole canvas fits in `max_size`, never enlarged."""

    def __init__(self, n, size, max_size=DEFAULT_MAX_SIZE):
        self.n = max(1, int(n))
        self.cols = int(math.ceil(math.sqrt(self.n)))
        self.rows = int(math.ceil(self.n / float(self.cols)))
        w, h = size if size and size[0] > 0 and size[1] > 0 else (1280, 720)
        scale = min(1.0, max_size[0] / float(self.cols * w), max_size[1] / float(self.rows * h))
        self.tile = (max(16, int(w * scale)), max(16, int(h * scale)))
        self.size = (self.cols * self.tile[0], self.rows * self.tile[1])

    def origin(self, i):
        # type: (int) -> tuple
        """Top-left corner (x, y) of tile `i` on the canvas."""
        return (i % self.cols) * self.tile[0], (i // self.cols) * self.tile[1]

    def fit(self, image):
        """A copy of `image` scaled to fit one tile, keeping its aspect."""
        h, w = image.shape[:2]
        scale = min(self.tile[0] / float(w), self.tile[1] / float(h))
        if abs(scale - 1.0) < 1e-6:
            return image.copy()
        size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)

    def compose(self, tiles, labels, footer=None):
        """The canvas: each tile image (from `fit`, or None) centred in its cell with its label at the top left;
        `footer` (text) at the bottom left of the canvas."""
        canvas = np.zeros((self.size[1], self.size[0], 3), np.uint8)
        tw, th = self.tile
        for i, (img, label) in enumerate(zip(tiles, labels)):
            x0, y0 = self.origin(i)
            if img is not None:
                h, w = img.shape[:2]
                x, y = x0 + (tw - w) // 2, y0 + (th - h) // 2
                canvas[y:y + h, x:x + w] = img
            if label:
                draw_label(canvas, label, (x0 + 6, y0 + 6))
        if footer:
            draw_label(canvas, footer, (6, self.size[1] - 6), anchor_bottom=True)
        return canvas


def draw_label(image, text, corner, scale=0.7, anchor_bottom=False):
    """White text on a dark box with its top-left (or bottom-left) corner at `corner`, in place."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, scale, 2)
    x, y = corner
    if anchor_bottom:
        y -= th + base + 8
    cv2.rectangle(image, (x, y), (x + tw + 10, y + th + base + 8), (32, 32, 32), -1)
    cv2.putText(image, text, (x + 5, y + th + 4), font, scale, (255, 255, 255), 2, cv2.LINE_AA)
    return image
