"""Why does decoding slow down inside the pipeline? Decode-only fps of one video under controlled conditions:
FFmpeg decoder thread counts, reading into a reused buffer, and decoding while other Python threads hold the GIL
(numpy work of about the pipeline stages' size) or keep cores busy without the GIL.

    python bench/decode_probe.py VIDEO --json probe.json
"""
import argparse
import json
import sys
import threading
import time

import cv2
import numpy as np


def decode(path, threads=0, reuse=False, frames=450):
    # type: (str, int, bool, int) -> float
    """Frames per second of decoding `frames` frames of `path` (BGR, as the pipeline reads them)."""
    cap = (cv2.VideoCapture(path, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, threads]) if threads
           else cv2.VideoCapture(path))
    ok, buf = cap.read()
    n, t0 = 0, time.perf_counter()
    while n < frames:
        ok, img = cap.read(buf) if reuse else cap.read()
        if not ok:
            break
        n += 1
    dt = time.perf_counter() - t0
    cap.release()
    return n / dt if dt else 0.0


class Load(object):
    """Background threads: 'gil' = small numpy/python steps that hold the GIL most of the time (like preprocess and
    postprocess of a pipeline), 'nogil' = big numpy copies that release it (cores and memory bandwidth only)."""

    def __init__(self, kind, threads):
        self.kind, self.n = kind, threads
        self.stop = threading.Event()
        self.workers = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self):
        a = np.zeros((720, 1280, 3), np.uint8)
        b = np.empty_like(a)
        small = np.random.rand(64, 6).astype(np.float32)
        while not self.stop.is_set():
            if self.kind == "gil":
                for _ in range(50):
                    small.argsort(axis=0)
                    sorted([1.0, 3.0, 2.0] * 20)
            else:
                np.copyto(b, a)

    def __enter__(self):
        for w in self.workers:
            w.start()
        time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for w in self.workers:
            w.join()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("video")
    p.add_argument("--frames", type=int, default=450)
    p.add_argument("--threads", default="0,2,4,8,12")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json")
    args = p.parse_args(argv)
    cap = cv2.VideoCapture(args.video)
    readable = cap.isOpened() and cap.read()[0]
    cap.release()
    if not readable:
        sys.exit("decode_probe: error: cannot read a frame of %s (a video file's path)" % args.video)
    rows = []

    def measure(label, **kw):
        fps = sorted(decode(args.video, frames=args.frames, **kw) for _ in range(args.repeat))
        rows.append({"case": label, "fps_median": fps[len(fps) // 2], "fps_runs": fps})
        sys.stdout.write("%-34s %7.1f fps  (runs %s)\n" % (label, fps[len(fps) // 2], " ".join("%.0f" % f for f in fps)))
        sys.stdout.flush()

    decode(args.video, frames=60)  # warm the file cache and the codec
    for t in [int(x) for x in args.threads.split(",")]:
        measure("threads %d" % t, threads=t)
        measure("threads %d, reused buffer" % t, threads=t, reuse=True)
    for kind in ("gil", "nogil"):
        for n in (1, 3):
            for t in (0, 4):
                with Load(kind, n):
                    measure("threads %d, %d %s thread(s) busy" % (t, n, kind), threads=t, reuse=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"video": args.video, "opencv": cv2.__version__, "cpus": cv2.getNumberOfCPUs(), "rows": rows}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
