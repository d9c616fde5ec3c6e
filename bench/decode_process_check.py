"""Decode speed of one video three ways: OpenCV in this process (fresh arrays, and into a reused buffer), and the
`--decode-process` child into the shared ring (frames given straight back). Prints fps and where the ring lives.

    python bench/decode_process_check.py VIDEO [--frames N]
"""
import argparse
import sys
import time

import cv2
import numpy as np

from trafficpipe.sources.decode_process import ProcessVideoReader, shm_free_bytes


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("video")
    p.add_argument("--frames", type=int, default=450)
    args = p.parse_args(argv)
    cap = cv2.VideoCapture(args.video)
    ok, first = cap.read()
    cap.release()
    shape = first.shape
    res = {}
    for mode in ("fresh", "reuse"):
        cap = cv2.VideoCapture(args.video)
        buf = np.empty(shape, np.uint8)
        t0, n = time.perf_counter(), 0
        while n < args.frames:
            ok, img = cap.read(buf) if mode == "reuse" else cap.read()
            if not ok:
                break
            n += 1
        res[mode] = n / (time.perf_counter() - t0)
        cap.release()
    reader = ProcessVideoReader(args.video, shape, limit=args.frames)
    img = reader.read()  # the child's start-up is not decoding
    reader.give_back(img)
    t0, n = time.perf_counter(), 1
    while True:
        img = reader.read()
        if img is None:
            break
        reader.give_back(img)
        n += 1
    res["process"] = (n - 1) / (time.perf_counter() - t0)
    sys.stdout.write("decode fps: in-process fresh %.1f, in-process reused buffer %.1f, child process into the ring "
                     "%.1f (%d slots in %s; /dev/shm free %.0f MB)\n"
                     % (res["fresh"], res["reuse"], res["process"], reader.n_slots, reader._path.rsplit("/", 1)[0],
                        shm_free_bytes() / 2.0 ** 20))
    reader.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
