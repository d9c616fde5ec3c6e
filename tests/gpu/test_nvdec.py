"""NVDEC decoding (`--decoder nvdec`): frames decoded into GPU memory and resized into the engine's device input there.

Skipped where PyNvVideoCodec or the driver's libnvcuvid is missing (on the GPU machine bench/gpu.sh carries it).
"""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from cli_helpers import damaged_copy, read_frames
from gpu_helpers import VIDEO, match_detections, report
from trafficpipe.detector import Detector


def _nvdec_reason():
    try:
        from trafficpipe.sources.nvdec import import_nvdec
        import_nvdec()
        import ctypes
        ctypes.CDLL("libnvcuvid.so.1")
    except Exception as e:  # noqa: BLE001
        return "NVDEC not usable here: %s" % str(e).splitlines()[0]
    return None


pytestmark = pytest.mark.skipif(_nvdec_reason() is not None, reason=str(_nvdec_reason()))


@pytest.fixture(scope="module")
def yolox32():
    d = Detector("yolox-nano", engine="torch", precision="fp32")
    yield d
    d.close()


def _opencv_frames(n):
    return read_frames(VIDEO, n)


def test_nvdec_source_gives_every_frame_as_opencv_does():
    """Same frame count as OpenCV's decoder, frames on the GPU in RGB, pixels within colour-conversion rounding."""
    from trafficpipe.sources.nvdec import NvdecVideoSource
    src = NvdecVideoSource(VIDEO)
    src.open()
    ref = _opencv_frames(3)
    n, diffs, buf = 0, [], None
    while True:
        got = src.read(buf)
        if got is None:
            break
        buf = got[0]
        assert buf.is_cuda and tuple(buf.shape) == (src.height, src.width, 3)
        if n < 3:
            bgr = buf.flip(-1).cpu().numpy()
            diffs.append(float(np.abs(bgr.astype(np.int16) - ref[n].astype(np.int16)).mean()))
        n += 1
    src.close()
    cap = cv2.VideoCapture(VIDEO)
    count = 0
    while cap.grab():
        count += 1
    cap.release()
    report("nvdec_source", frames=n, opencv_frames=count, mean_abs_diff=diffs)
    assert n == count == src.frame_count
    assert max(diffs) < 4.0, diffs


def _run_batch(det, ctx, images):
    """One slot of `ctx` filled with `images` (host or device frames) and run: (detections per image, positions
    that went to the device path)."""
    from trafficpipe.engines.device_frames import fill_input
    slot = ctx.acquire()
    metas = [fill_input(det.adapter, slot, i, img) for i, img in enumerate(images)]
    slot.size = len(images)
    ctx.run(slot)
    out = [det.adapter.postprocess(slot.output_list(det.output_names, i), m) for i, m in enumerate(metas)]
    on_device = sorted(slot.device_items)
    ctx.release(slot)
    return out, on_device


def test_device_frames_give_the_detections_of_host_frames(yolox32):
    """A batch mixing GPU-decoded and host frames: each item's detections equal the all-host batch's."""
    frames = _opencv_frames(4)
    import torch
    dev = [torch.from_numpy(f[..., ::-1].copy()).cuda() for f in frames]  # the same pixels, as NVDEC gives them
    ctx = yolox32.engine.create_context(1, 4)
    try:
        host, none = _run_batch(yolox32, ctx, frames)
        mixed, some = _run_batch(yolox32, ctx, [dev[0], frames[1], dev[2], frames[3]])
        device, every = _run_batch(yolox32, ctx, dev)
    finally:
        ctx.close()
        yolox32.engine.contexts.remove(ctx)
    assert none == [] and some == [0, 2] and every == [0, 1, 2, 3]
    for a, b, c in zip(host, mixed, device):
        assert len(a) > 0
        assert match_detections(a, b, 0.95) == 1.0 and match_detections(a, c, 0.95) == 1.0


def test_pipeline_with_nvdec_matches_opencv(yolox32, tmp_path):
    """The whole clip through the pipeline with each decoder: every frame, in order, and the same detections up to
    the two decoders' colour conversion."""
    from trafficpipe.pipeline import Pipeline
    from trafficpipe.run_config import RunConfig
    from trafficpipe.sources.video import set_decoder
    runs = {}
    for dec in ("opencv", "nvdec"):
        set_decoder(dec)
        seen, dets = [], []
        try:
            pipe = Pipeline([VIDEO], yolox32, RunConfig.defaults(batch=4, preprocess_workers=2, postprocess_workers=1),
                            out_dir=str(tmp_path / dec), outputs=("jsonl",),
                            on_frame=lambda f: (seen.append(f.index), dets.append(f.detections)))
            summary = pipe.run()
        finally:
            set_decoder("opencv")
        assert seen == list(range(len(seen)))
        runs[dec] = (summary, dets)
    a, b = runs["opencv"][1], runs["nvdec"][1]
    assert len(a) == len(b) == runs["opencv"][0].frames_out > 400
    matched = np.mean([match_detections(x, y, 0.7) for x, y in zip(a, b)])
    counts = (sum(len(x) for x in a), sum(len(y) for y in b))
    report("nvdec_pipeline", frames=len(b), matched=matched, boxes=counts, fps_opencv=runs["opencv"][0].fps,
           fps_nvdec=runs["nvdec"][0].fps)
    assert matched >= 0.9
    assert abs(counts[0] - counts[1]) <= 0.05 * counts[0]


def test_cli_nvdec_writes_an_annotated_video(tmp_path):
    """Drawing needs the frame on the host: the annotated mp4 holds every frame, and the jsonl one line per frame."""
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "trafficpipe", "detect", VIDEO, "--engine", "torch", "--precision",
                           "fp16", "--decoder", "nvdec", "--batch", "4", "--max-frames", "60", "--save", "video,jsonl",
                           "--out", str(out), "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    lines = (out / "highway-720p.jsonl").read_text().splitlines()
    assert [json.loads(l)["frame"] for l in lines] == list(range(60))
    cap = cv2.VideoCapture(str(out / "highway-720p.mp4"))
    n = 0
    while cap.grab():
        n += 1
    assert n == 60 and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 1280


def test_nvdec_with_a_cpu_engine_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "trafficpipe", "detect", VIDEO, "--engine", "onnxruntime",
                           "--decoder", "nvdec", "--max-frames", "4", "--out", str(tmp_path), "--no-progress"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    err = [l for l in proc.stderr.decode().strip().splitlines() if " INFO " not in l]
    assert proc.returncode == 2 and len(err) == 1 and "--engine torch or tensorrt" in err[0], err


def test_tiled_device_frames_match_tiled_host_frames(yolox32):
    """Tiles of GPU-decoded frames (views of the device frame, resized on the device) give the detections of the same
    tiles of host frames (a ratio of 1.5 tiles the 16:9 clip: whole frame + 3 overlapping tiles)."""
    from trafficpipe.models.tiling import TilePlan
    from trafficpipe.pipeline import Pipeline
    from trafficpipe.run_config import RunConfig
    from trafficpipe.sources.video import set_decoder
    plan = TilePlan(min_ratio=1.5)
    assert len(plan.crops(1280, 720, 416, 416)) == 4
    runs = {}
    for dec in ("opencv", "nvdec"):
        set_decoder(dec)
        dets = []
        try:
            Pipeline([VIDEO], yolox32, RunConfig.defaults(batch=4, max_frames=40), outputs=(), tiles=plan,
                     on_frame=lambda f: dets.append((f.index, f.detections))).run()
        finally:
            set_decoder("opencv")
        runs[dec] = [d for _, d in sorted(dets, key=lambda x: x[0])]
    assert len(runs["opencv"]) == len(runs["nvdec"]) == 40
    matched = np.mean([match_detections(a, b, 0.7) for a, b in zip(runs["opencv"], runs["nvdec"])])
    report("nvdec_tiles", matched=matched)
    assert matched >= 0.9


def test_nvdec_on_a_damaged_file_writes_what_decodes_then_fails(tmp_path):
    """As with OpenCV (tests/test_detect_cli.py): the frames before the damage are written, one line, exit 3."""
    bad = damaged_copy(VIDEO, tmp_path)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "trafficpipe", "detect", str(bad), "--engine", "torch", "--precision",
                           "fp16", "--decoder", "nvdec", "--save", "jsonl", "--out", str(out), "--no-progress"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    err = [l for l in proc.stderr.decode().strip().splitlines() if l.startswith("trafficpipe: error")]
    n = len((out / "damaged.jsonl").read_text().splitlines()) if (out / "damaged.jsonl").exists() else 0
    report("nvdec_damaged", returncode=proc.returncode, written=n, error=err)
    assert proc.returncode == 3 and len(err) == 1 and "damaged" in err[0], proc.stderr.decode()[-2000:]
    assert 100 < n < 450


def test_device_frames_of_two_sizes_through_one_context(yolox32):
    """A context fed 720p device frames, then 360p ones (its resize graphs and staging buffers are replaced), then
    720p again gives each batch the detections of the same frames on the host."""
    import torch
    big = _opencv_frames(4)
    small = [cv2.resize(f, (640, 360), interpolation=cv2.INTER_AREA) for f in big]
    ctx = yolox32.engine.create_context(1, 4)
    try:
        def dev(frames):
            return [torch.from_numpy(f[..., ::-1].copy()).cuda() for f in frames]

        results = []
        for frames in (big, small, big, small):
            for _ in range(3):  # more batches than the ring has slots: every slot sees every size
                results.append((_run_batch(yolox32, ctx, frames)[0], _run_batch(yolox32, ctx, dev(frames))[0]))
    finally:
        ctx.close()
        yolox32.engine.contexts.remove(ctx)
    scores = [match_detections(a, b, 0.95) for host, device in results for a, b in zip(host, device)]
    report("device_frames_two_sizes", batches=len(results), matched=float(np.mean(scores)))
    assert all(len(a) > 0 for host, _ in results for a in host)
    assert min(scores) == 1.0
