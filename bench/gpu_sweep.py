"""Sweep pipeline settings for the torch engine on one video: decode-only fps once, then the pipeline's fps for each
batch / worker / decoder / OpenCV-thread setting with device I/O on, per model, and the best of those again with
device I/O off (the A/B of GPU-side pre/postprocessing). Writes JSON (every run and the best setting per model).

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
from trafficpipe.run_config import RunConfig
from trafficpipe.sources.video import set_decode_threads


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("video")
    p.add_argument("--models", default="picodet-s-416,yolox-nano")
    p.add_argument("--precision", default="fp16")
    p.add_argument("--engine", default="torch", help="engine (default torch; onnxruntime to try the sweep on a CPU)")
    p.add_argument("--batches", default="4,8")
    p.add_argument("--pre-workers", default="1,2")
    p.add_argument("--post-workers", default="1,2")
    p.add_argument("--decode-workers", default="1")
    p.add_argument("--decode-threads", default="0", help="FFmpeg decoder threads to try (0: FFmpeg's default)")
    p.add_argument("--switch-intervals", default="0", help="sys.setswitchinterval values to try, in ms (0: leave "
                   "Python's default)")
    p.add_argument("--cv-threads", default="-1", help="cv2.setNumThreads values to try (-1: leave OpenCV's default)")
    p.add_argument("--output", default="jsonl")
    p.add_argument("--frames", type=int, default=450)
    p.add_argument("--repeat", type=int, default=2, help="runs per setting; the fastest counts (short runs are noisy)")
    p.add_argument("--json", required=True)
    args = p.parse_args(argv)
    ints = lambda s: [int(x) for x in s.split(",")]  # noqa: E731
    floats = lambda s: [float(x) for x in s.split(",")]  # noqa: E731
    res = {"video": args.video, "precision": args.precision, "output": args.output, "runs": [], "best": {}}
    _, images, _, decode = decode_frames(args.video, args.frames)
    res["decode_only_fps"] = decode.result()["fps"]
    res["decode_only_wall_fps"] = len(images) / decode.wall if decode.wall else 0.0
    del images
    sys.stdout.write("decode-only: %.1f fps (busy), %.1f fps (wall)\n" % (res["decode_only_fps"], res["decode_only_wall_fps"]))
    out_dir = tempfile.mkdtemp(prefix="gpu-sweep-")
    import cv2
    default_cv_threads = cv2.getNumThreads()
    default_switch = sys.getswitchinterval()
    for model in args.models.split(","):
        best = None
        for device_io in (True, False):
            det = Detector(model, engine=args.engine, precision=args.precision, device_io=device_io)
            res["detector_%s%s" % (model, "" if device_io else "_no_device_io")] = det.describe()
            if device_io:
                grid = itertools.product(ints(args.batches), ints(args.pre_workers), ints(args.post_workers),
                                         ints(args.decode_workers), ints(args.cv_threads), floats(args.switch_intervals),
                                         ints(args.decode_threads))
            else:  # the best setting once more without device I/O
                grid = [(best["batch"], best["preprocess_workers"], best["postprocess_workers"],
                         best["decode_workers"], best["cv_threads"], best["switch_interval_ms"], best["decode_threads"])]
            for batch, pre, post, dec, cvt, si, dth in grid:
                set_decode_threads(dth)
                cv2.setNumThreads(default_cv_threads if cvt < 0 else cvt)
                sys.setswitchinterval(default_switch if si <= 0 else si / 1000.0)
                run = RunConfig.defaults(batch=batch, preprocess_workers=pre, postprocess_workers=post,
                                         decode_workers=dec)
                cfg = BenchConfig(args.video, run, frames=args.frames, output=args.output)
                t0 = time.perf_counter()
                tries = [run_pipeline([args.video], det, cfg, os.path.join(out_dir, model))[0]
                         for _ in range(max(1, args.repeat))]
                r = max(tries, key=lambda t: t["fps"])
                row = {"model": model, "device_io": device_io, "batch": batch, "preprocess_workers": pre,
                       "postprocess_workers": post, "decode_workers": dec, "cv_threads": cvt,
                       "switch_interval_ms": si, "decode_threads": dth,
                       "fps": r["fps"], "fps_runs": [t["fps"] for t in tries], "frames": r["frames"], "cpu_ms_per_frame": r["cpu_ms_per_frame"],
                       "latency_ms": r["latency_ms"], "run_s": time.perf_counter() - t0,
                       "stages": [dict((k, s.get(k)) for k in ("stage", "busy_fraction", "ms_per_frame", "thread_cpu_ms_per_frame"))
                                  for s in r["stages"]]}
                res["runs"].append(row)
                sys.stdout.write("%-14s io %-3s batch %2d pre %d post %d dec %d cv %2d si %.2f dth %2d: %7.1f fps  (%.2f x decode)  %s\n"
                                 % (model, "on" if device_io else "off", batch, pre, post, dec, cvt, si, dth, r["fps"],
                                    r["fps"] / res["decode_only_fps"],
                                    " ".join("%s %.2f/%.2f" % (s["stage"][:4], s["ms_per_frame"], s.get("thread_cpu_ms_per_frame") or 0)
                                             for s in r["stages"])))
                sys.stdout.flush()
                if device_io and (best is None or r["fps"] > best["fps"]):
                    best = row
            det.close()
        cv2.setNumThreads(default_cv_threads)
        sys.setswitchinterval(default_switch)
        set_decode_threads(0)
        res["best"][model] = best
    with open(args.json, "w") as f:
        json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
