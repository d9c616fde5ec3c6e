"""Sweep pipeline settings for the torch engine on one video: decode-only fps once, then the pipeline's fps for each
batch / worker setting, per model. Writes JSON (every run and the best setting per model) for bench/gpu.sh.

    python bench/gpu_sweep.py VIDEO --models picodet-s-416,yolox-nano --precision fp16 --json sweep.json
"""
import argparse
import itertools
import json
import os
import sys
import tempfile
import time

from trafficpipe.bench.ceilings import decode_frames
from trafficpipe.bench.runner import BenchConfig, run_pipeline
from trafficpipe.detector import Detector


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("video")
    p.add_argument("--models", default="picodet-s-416,yolox-nano")
    p.add_argument("--precision", default="fp16")
    p.add_argument("--batches", default="4,8,16")
    p.add_argument("--pre-workers", default="2,4")
    p.add_argument("--post-workers", default="1,2")
    p.add_argument("--output", default="jsonl")
    p.add_argument("--frames", type=int, default=450)
    p.add_argument("--json", required=True)
    args = p.parse_args(argv)
    ints = lambda s: [int(x) for x in s.split(",")]  # noqa: E731
    res = {"video": args.video, "precision": args.precision, "output": args.output, "runs": [], "best": {}}
    _, images, _, decode = decode_frames(args.video, args.frames)
    res["decode_only_fps"] = decode.result()["fps"]
    res["decode_only_wall_fps"] = len(images) / decode.wall if decode.wall else 0.0
    del images
    sys.stdout.write("decode-only: %.1f fps (busy), %.1f fps (wall)\n" % (res["decode_only_fps"], res["decode_only_wall_fps"]))
    out_dir = tempfile.mkdtemp(prefix="gpu-sweep-")
    for model in args.models.split(","):
        det = Detector(model, engine="torch", precision=args.precision)
        res["detector_" + model] = det.describe()
        best = None
        for batch, pre, post in itertools.product(ints(args.batches), ints(args.pre_workers), ints(args.post_workers)):
            cfg = BenchConfig(args.video, frames=args.frames, batch=batch, preprocess_workers=pre,
                              postprocess_workers=post, output=args.output)
            t0 = time.perf_counter()
            r, _, _ = run_pipeline([args.video], det, cfg, os.path.join(out_dir, model))
            row = {"model": model, "batch": batch, "preprocess_workers": pre, "postprocess_workers": post,
                   "fps": r["fps"], "frames": r["frames"], "cpu_ms_per_frame": r["cpu_ms_per_frame"],
                   "latency_ms": r["latency_ms"], "run_s": time.perf_counter() - t0,
                   "stages": [dict((k, s[k]) for k in ("stage", "busy_fraction", "ms_per_frame")) for s in r["stages"]]}
            res["runs"].append(row)
            sys.stdout.write("%-14s batch %2d pre %d post %d: %7.1f fps  (%.2f x decode)\n"
                             % (model, batch, pre, post, r["fps"], r["fps"] / res["decode_only_fps"]))
            sys.stdout.flush()
            if best is None or r["fps"] > best["fps"]:
                best = row
        res["best"][model] = best
        det.close()
    with open(args.json, "w") as f:
        json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
