"""A wide clip for `trafficpipe bench`: the middle 2.5:1 band of highway-720p (1280x512, rows 104-616), so that the
bench shows what tiled inference costs on frames at least twice as wide as the model's input.

Usage: python tools/make_wide_clip.py [OUT.mp4] [--frames N]   (default /tmp/highway-wide-1280x512.mp4, 150 frames)
"""
import argparse
import os
import sys

import cv2

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from trafficpipe.paths import data_dir  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="/tmp/highway-wide-1280x512.mp4")
    ap.add_argument("--frames", type=int, default=150)
    args = ap.parse_args()
    cap = cv2.VideoCapture(os.path.join(data_dir(), "videos", "highway-720p.mp4"))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    w, h = 1280, 512
    out = cv2.VideoWriter(args.out, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    n = 0
    while n < args.frames:
        ok, img = cap.read()
        if not ok:
            break
        y0 = (img.shape[0] - h) // 2
        out.write(img[y0:y0 + h, :w])
        n += 1
    out.release()
    cap.release()
    sys.stdout.write("wrote %s: %d frames %dx%d\n" % (args.out, n, w, h))


if __name__ == "__main__":
    main()
