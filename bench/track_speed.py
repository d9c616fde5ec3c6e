"""The tracker's cost per frame with N objects (synthetic boxes moving at constant speed with jitter, a fifth of them
low-score), on one core. `cpu_ms` is the thread's CPU time per frame (what the tracker costs, whatever else runs on
the machine); `wall_ms` includes time the thread waited for the core:

    taskset -c 0 python bench/track_speed.py [--tracker bytetrack|ocsort] [--objects 50] [--frames 1000] [--json FILE]
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from trafficpipe.tracking import TRACKERS, make_tracker  # noqa: E402


def frames(n_obj, n_frames, seed=0):
    rng = np.random.RandomState(seed)
    pos = rng.uniform([0, 0], [1800, 1000], (n_obj, 2))
    vel = rng.uniform(-6, 6, (n_obj, 2))
    size = rng.uniform([30, 30], [120, 90], (n_obj, 2))
    cls = rng.randint(0, 2, n_obj)
    score = np.where(rng.rand(n_obj) < 0.2, 0.3, 0.85)
    out = []
    for k in range(n_frames):
        p = pos + vel * k + rng.normal(0, 1.0, (n_obj, 2))
        boxes = np.concatenate([p, p + size], axis=1).astype(np.float32)
        out.append((boxes, (score + rng.normal(0, 0.03, n_obj)).astype(np.float32), cls.astype(np.int32)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tracker", default="bytetrack", choices=TRACKERS)
    ap.add_argument("--objects", type=int, default=50)
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    data = frames(a.objects, a.frames)
    tracker = make_tracker(a.tracker)
    for k, (b, s, c) in enumerate(data[:20]):  # warm-up (scipy import, first tracks)
        tracker.update(b, s, c, k / 30.0)
    wall, cpu = [], []
    for k, (b, s, c) in enumerate(data[20:], 20):
        c0, t0 = time.thread_time(), time.perf_counter()
        ids = tracker.update(b, s, c, k / 30.0)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    res = {"tracker": a.tracker, "objects": a.objects, "frames": len(wall), "tracked_last_frame": int((ids > 0).sum()),
           "cpu_affinity": sorted(os.sched_getaffinity(0)), "load_avg_1m": os.getloadavg()[0]}
    for name, v in (("cpu_ms", cpu), ("wall_ms", wall)):
        ms = np.asarray(v) * 1000.0
        res[name] = {"mean": round(float(ms.mean()), 4), "p50": round(float(np.percentile(ms, 50)), 4),
                     "p99": round(float(np.percentile(ms, 99)), 4)}
    print(json.dumps(res))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
