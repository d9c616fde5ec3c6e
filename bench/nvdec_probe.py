"""Probe NVIDIA's hardware video decoder (NVDEC) through PyNvVideoCodec on a GPU machine.

Answers, before any pipeline code depends on it: is the driver's ``libnvcuvid`` reachable from this container, how fast
does NVDEC decode the clip into GPU memory (one decoder, and several at once), and what does a decoded frame look like to
torch (layout, strides). Prints one JSON document (also written to ``--json``).

    python3 bench/nvdec_probe.py VIDEO [--repeat 3] [--json FILE]
"""
import argparse
import ctypes
import ctypes.util
import json
import threading
import time
import traceback


def _libnvcuvid():
    for name in ("libnvcuvid.so.1", "libnvcuvid.so", ctypes.util.find_library("nvcuvid") or ""):
        if not name:
            continue
        try:
            ctypes.CDLL(name)
            return name
        except OSError as exc:
            last = str(exc)
    return "missing: " + last


def _decode_all(nvc, path, color=None, limit=0):
    """Decode the whole file once; return (frames, seconds, first frame description)."""
    import torch
    dmx = nvc.CreateDemuxer(filename=path)
    kwargs = dict(gpuid=0, codec=dmx.GetNvCodecId(), usedevicememory=True)
    if color is not None:
        kwargs["outputColorType"] = color
    dec = nvc.CreateDecoder(**kwargs)
    first = None
    n = 0
    t0 = time.perf_counter()
    for packet in dmx:
        for frame in dec.Decode(packet):
            if first is None:
                first = _describe(frame)
            n += 1
    torch.cuda.synchronize()
    return n, time.perf_counter() - t0, first


def _describe(frame):
    out = {"type": type(frame).__name__}
    for attr in ("format", "shape", "strides", "timestamp"):
        try:
            val = getattr(frame, attr)
            out[attr] = str(val() if callable(val) else val)
        except Exception as exc:  # noqa: BLE001 - probing an unknown API
            out[attr] = "error: %s" % exc
    try:
        out["cai"] = {k: str(v) for k, v in frame.__cuda_array_interface__.items()}
    except Exception as exc:  # noqa: BLE001
        out["cai"] = "error: %s" % exc
    try:
        planes = frame.cuda()
        out["planes"] = [{k: str(v) for k, v in p.__cuda_array_interface__.items()} for p in planes]
    except Exception as exc:  # noqa: BLE001
        out["planes"] = "error: %s" % exc
    try:
        import torch
        t = torch.from_dlpack(frame)
        out["dlpack"] = {"shape": list(t.shape), "stride": list(t.stride()), "dtype": str(t.dtype)}
    except Exception as exc:  # noqa: BLE001
        out["dlpack"] = "error: %s" % exc
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    report = {"libnvcuvid": _libnvcuvid()}
    try:
        import PyNvVideoCodec as nvc
        report["pynvvideocodec"] = getattr(nvc, "__version__", "?")
        report["color_types"] = [n for n in dir(nvc.OutputColorType) if not n.startswith("_")]
        try:
            report["create_decoder_doc"] = (nvc.CreateDecoder.__doc__ or "")[:1500]
        except Exception:  # noqa: BLE001
            pass
        import torch
        torch.cuda.init()
        runs = {}
        for label in ("NATIVE", "RGB", "RGBP"):
            color = getattr(nvc.OutputColorType, label, None)
            try:
                per = []
                for _ in range(args.repeat):
                    n, s, first = _decode_all(nvc, args.video, color)
                    per.append({"frames": n, "s": round(s, 4), "fps": round(n / s, 1)})
                runs[label] = {"runs": per, "first": first}
            except Exception:  # noqa: BLE001
                runs[label] = {"error": traceback.format_exc()[-1500:]}
        report["single"] = runs
        # does Decode hold the GIL? A Python thread counts while one decoder runs (as the pipeline's capture thread):
        # its rate against the rate with nothing beside it is the share of the GIL the decoder leaves to others
        def spin(stop, out):
            n = 0
            while not stop:
                n += 1
            out.append(n)
        def source_loop():
            from trafficpipe.sources.nvdec import NvdecVideoSource
            src = NvdecVideoSource(args.video)
            src.open()
            buf = None
            while True:
                got = src.read(buf)
                if got is None:
                    break
                buf = got[0]
            src.close()

        def torch_loop():  # what the preprocess stage does per GPU frame: a few small torch launches
            from trafficpipe.engines.device_frames import resize_pad
            img = torch.zeros((720, 1280, 3), dtype=torch.uint8, device="cuda")
            out = torch.zeros((416, 416, 3), dtype=torch.uint8, device="cuda")
            for _ in range(450):
                resize_pad(img, out, 416, 234, 114)
            torch.cuda.synchronize()

        for label, work in (("alone", None), ("beside_decode", lambda: _decode_all(nvc, args.video,
                                                                                     nvc.OutputColorType.RGB)),
                            ("beside_source_read", source_loop), ("beside_torch_preprocess", torch_loop)):
            stop, out = [], []
            t = threading.Thread(target=spin, args=(stop, out))
            t0 = time.perf_counter()
            t.start()
            if work is None:
                time.sleep(0.4)
            else:
                work()
            stop.append(1)
            t.join()
            wall = time.perf_counter() - t0
            report.setdefault("gil", {})[label] = {"spins_per_s": round(out[0] / wall), "work_s": round(wall, 3)}
        # per-frame cost in the calling thread: Decode, then from_dlpack + copy + stream sync (what the source does)
        dmx = nvc.CreateDemuxer(filename=args.video)
        dec = nvc.CreateDecoder(gpuid=0, codec=dmx.GetNvCodecId(), usedevicememory=True,
                                outputColorType=nvc.OutputColorType.RGB)
        t_dec, t_copy, n = 0.0, 0.0, 0
        buf = None
        cs = torch.cuda.Stream()
        for packet in dmx:
            t0 = time.perf_counter()
            frames = dec.Decode(packet)
            t_dec += time.perf_counter() - t0
            for f in frames:
                t0 = time.perf_counter()
                src = torch.from_dlpack(f)
                if buf is None:
                    buf = torch.empty_like(src)
                with torch.cuda.stream(cs):
                    buf.copy_(src)
                cs.synchronize()
                t_copy += time.perf_counter() - t0
                n += 1
        report["per_frame_ms"] = {"decode_call": round(t_dec * 1000 / n, 4), "copy_sync": round(t_copy * 1000 / n, 4),
                                  "frames": n}
        for k in (2, 4):
            res = []
            lock = threading.Lock()

            def work():
                n, s, _ = _decode_all(nvc, args.video, getattr(nvc.OutputColorType, "RGB", None))
                with lock:
                    res.append((n, s))
            t0 = time.perf_counter()
            ts = [threading.Thread(target=work) for _ in range(k)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            wall = time.perf_counter() - t0
            frames = sum(r[0] for r in res)
            report["parallel_%d" % k] = {"frames": frames, "wall_s": round(wall, 3), "fps": round(frames / wall, 1)}
    except Exception:  # noqa: BLE001
        report["error"] = traceback.format_exc()[-3000:]
    text = json.dumps(report, indent=1)
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(text)
    import sys
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
