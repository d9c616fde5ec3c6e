"""Does decoding slow inference down when both run at once? (The NVDEC pipeline's inference stage takes
0.87 ms/frame against 0.47 with OpenCV decoding.)

Runs, for a fixed time each, in one process as the pipeline does: inference alone on frames held in memory (device
frames as NVDEC gives them, or host frames), each decoder alone, and inference beside each decoder in another thread.
Inference is the pipeline's loop: acquire a slot, fill it with `batch` frames, submit, collect the oldest of 2 in
flight. Prints one JSON document (also written to ``--json``).

    python3 bench/nvdec_contention.py VIDEO [--model yolox-nano] [--batch 4] [--seconds 2] [--json FILE]
"""
import argparse
import json
import threading
import time

from trafficpipe.detector import Detector
from trafficpipe.engines.device_frames import fill_input
from trafficpipe.sources.nvdec import NvdecVideoSource
from trafficpipe.sources.video import VideoFileSource


def _decode_loop(make, stop, counter):
    """Decode the file again and again (buffers reused) until `stop`."""
    while not stop.is_set():
        src = make()
        src.open()
        buf = None
        try:
            while not stop.is_set():
                got = src.read(buf)
                if got is None:
                    break
                buf = got[0]
                counter[0] += 1
        finally:
            src.close()


def _infer_loop(det, ctx, frames, batch, seconds, out):
    """The pipeline's inference loop on `frames` (cycled) for `seconds`: frames/s and per-batch latency."""
    adapter = det.adapter
    n = done = 0
    lat = []
    inflight = []
    t_end = time.perf_counter() + seconds
    t0 = time.perf_counter()
    while time.perf_counter() < t_end:
        slot = ctx.acquire()
        for pos in range(batch):
            fill_input(adapter, slot, pos, frames[n % len(frames)])
            n += 1
        slot.size = batch
        inflight.append(time.perf_counter())
        ctx.submit(slot)
        if ctx.pending() >= 2:
            s = ctx.collect()
            lat.append(time.perf_counter() - inflight.pop(0))
            done += s.size
            ctx.release(s)
    while ctx.pending():
        s = ctx.collect()
        lat.append(time.perf_counter() - inflight.pop(0))
        done += s.size
        ctx.release(s)
    wall = time.perf_counter() - t0
    lat.sort()
    out.update(infer_fps=done / wall, batch_ms_p50=1000 * lat[len(lat) // 2], batch_ms_p90=1000 * lat[int(len(lat) * 0.9)])


def _scenario(det, ctx, frames, batch, seconds, decoder_make):
    res = {}
    stop, counter = threading.Event(), [0]
    th = None
    if decoder_make is not None:
        th = threading.Thread(target=_decode_loop, args=(decoder_make, stop, counter))
        th.start()
        time.sleep(0.3)
    c0, t0 = counter[0], time.perf_counter()
    if frames is not None:
        _infer_loop(det, ctx, frames, batch, seconds, res)
    else:
        time.sleep(seconds)
    if th is not None:
        res["decode_fps"] = (counter[0] - c0) / (time.perf_counter() - t0)
        stop.set()
        th.join()
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("video")
    p.add_argument("--model", default="yolox-nano")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--json")
    args = p.parse_args(argv)
    det = Detector(args.model, engine="torch", precision="fp16")
    src = NvdecVideoSource(args.video)
    src.open()
    device = [src.read()[0] for _ in range(32)]
    src.close()
    src = VideoFileSource(args.video)
    src.open()
    host = [src.read()[0] for _ in range(32)]
    src.close()
    nvdec = lambda: NvdecVideoSource(args.video)  # noqa: E731
    opencv = lambda: VideoFileSource(args.video)  # noqa: E731
    # one context, made (CUDA graphs captured) before any decoder runs: a capture beside a decoding thread can fail
    # ("operation failed due to a previous error during capture" on an H200), leaving the engine eager
    ctx = det.engine.create_context(4, args.batch)
    _scenario(det, ctx, device, args.batch, 0.5, None)  # warm-up
    _scenario(det, ctx, host, args.batch, 0.5, None)
    runs = {}
    for name, frames, dec in (("infer device frames", device, None), ("infer host frames", host, None),
                              ("nvdec alone", None, nvdec), ("opencv alone", None, opencv),
                              ("infer device frames + nvdec", device, nvdec),
                              ("infer host frames + nvdec", host, nvdec),
                              ("infer device frames + opencv", device, opencv),
                              ("infer host frames + opencv", host, opencv)):
        runs[name] = _scenario(det, ctx, frames, args.batch, args.seconds, dec)
        print("%-30s %s" % (name, " ".join("%s %.2f" % kv for kv in sorted(runs[name].items()))), flush=True)
    doc = {"video": args.video, "model": args.model, "batch": args.batch, "seconds": args.seconds, "runs": runs,
           "engine": det.describe()}
    ctx.close()
    det.engine.contexts.remove(ctx)
    det.close()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
