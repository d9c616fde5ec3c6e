"""Slot-ring reuse over 10 000 frames with no allocation per frame and no growth of device or host memory; contexts
created and closed repeatedly give their memory back; the pipeline keeps every source's frame order on the GPU."""
import os
import subprocess
import sys

import numpy as np
import pytest

from gpu_helpers import VIDEO, match_detections, report
from trafficpipe.detector import Detector


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _Counter(object):
    """Counts calls of pycuda allocation/stream/event constructors while installed."""

    NAMES = ("mem_alloc", "pagelocked_empty", "Stream", "Event")

    def __init__(self, monkeypatch):
        import pycuda.driver as cuda
        self.calls = dict((n, 0) for n in self.NAMES)
        for n in self.NAMES:
            monkeypatch.setattr(cuda, n, self._wrap(n, getattr(cuda, n)))

    def _wrap(self, name, fn):
        def counted(*a, **kw):
            self.calls[name] += 1
            return fn(*a, **kw)
        return counted


@pytest.fixture(scope="module")
def yolox16():
    det = Detector("yolox-nano", engine="torch", precision="fp16")
    yield det
    det.close()


def test_ten_thousand_frames_reuse_the_ring_without_leaks(yolox16, frames, monkeypatch):
    import torch
    det = yolox16
    rt = det.engine.runtime
    name = det.adapter.input.name
    batch, n_frames = 4, 10000
    ctx = det.engine.create_context(3, batch)
    x = np.zeros((batch,) + tuple(det.adapter.input.shape[1:]), det.adapter.input.dtype)
    metas = [det.adapter.preprocess(frames[i], x[i]) for i in range(batch)]
    names = det.output_names

    def run(n_batches, check=False):
        found = 0
        for _ in range(n_batches):
            slot = ctx.acquire()
            slot.host_inputs[name][:] = x
            slot.size = batch
            ctx.submit(slot)
            if ctx.pending() >= 2:
                s = ctx.collect()
                if check:
                    found += len(det.adapter.postprocess(s.output_list(names, 0), metas[0]))
                ctx.release(s)
        while ctx.pending():
            ctx.release(ctx.collect())
        return found

    run(50)  # warm: caches, lazy module state
    torch.cuda.synchronize()
    free0, _ = rt.mem_get_info()
    rss0 = _rss_bytes()
    counter = _Counter(monkeypatch)
    import time
    t0 = time.perf_counter()
    found = run(n_frames // batch, check=True)
    wall = time.perf_counter() - t0
    free1, _ = rt.mem_get_info()
    rss1 = _rss_bytes()
    monkeypatch.undo()
    ctx.close()
    det.engine.contexts.remove(ctx)
    report("ring_10000_frames", gpu=rt.device_name, frames=n_frames, batch=batch, slots=3, wall_s=wall,
           fps=n_frames / wall, device_free_delta_mb=(free0 - free1) / 2.0 ** 20, rss_delta_mb=(rss1 - rss0) / 2.0 ** 20,
           allocations=counter.calls)
    assert found > 0
    assert counter.calls == dict((n, 0) for n in _Counter.NAMES), "per-frame allocation: %s" % counter.calls
    assert free0 - free1 <= 8 << 20, "device memory shrank by %d bytes" % (free0 - free1)
    assert rss1 - rss0 <= 32 << 20, "process RSS grew by %d bytes" % (rss1 - rss0)


def test_contexts_give_their_memory_back(yolox16):
    import torch
    rt = yolox16.engine.runtime
    for _ in range(2):  # warm the allocator and the cuDNN state for these shapes
        yolox16.engine.create_context(4, 8).close()
    torch.cuda.empty_cache()
    free0, _ = rt.mem_get_info()
    rss0 = _rss_bytes()
    for _ in range(10):
        ctx = yolox16.engine.create_context(4, 8)
        ctx.close()
    yolox16.engine.contexts[:] = [c for c in yolox16.engine.contexts if not c.closed]
    torch.cuda.empty_cache()
    free1, _ = rt.mem_get_info()
    rss1 = _rss_bytes()
    report("contexts_create_close_x10", gpu=rt.device_name, device_free_delta_mb=(free0 - free1) / 2.0 ** 20,
           rss_delta_mb=(rss1 - rss0) / 2.0 ** 20)
    assert free0 - free1 <= 16 << 20
    assert rss1 - rss0 <= 64 << 20


def test_pipeline_keeps_each_sources_order_on_the_gpu(yolox16, tmp_path):
    """Two sources over 2 contexts, batch 4, several workers: frames reach the writer in order per source, and each
    frame's detections equal the synchronous detector's."""
    from trafficpipe.pipeline import Pipeline
    from trafficpipe.run_config import RunConfig
    seen = {0: [], 1: []}
    dets = {}

    def on_frame(frame):
        seen[frame.source_id].append(frame.index)
        if frame.source_id == 0 and frame.index < 12:
            dets[frame.index] = frame.detections

    config = RunConfig.defaults(batch=4, contexts=2, preprocess_workers=3, postprocess_workers=2, max_frames=120)
    pipe = Pipeline([VIDEO, VIDEO], yolox16, config, out_dir=str(tmp_path), outputs=("jsonl",), on_frame=on_frame)
    summary = pipe.run()
    assert summary.frames_out == 240
    for sid in (0, 1):
        assert seen[sid] == list(range(120)), "source %d out of order" % sid
    import cv2
    cap = cv2.VideoCapture(VIDEO)
    for i in range(12):
        ok, img = cap.read()
        assert ok
        # batch 1 here, full batches of 4 in the pipeline: fp16 rounding differs slightly (one box of 8 at IoU 0.98
        # was seen), so the same boxes are asked at IoU 0.9, as the other fp16 checks do
        ref = yolox16.detect(img)
        assert len(ref) == len(dets[i])
        assert match_detections(ref, dets[i], 0.9) == 1.0
    cap.release()
    lines = (tmp_path / "highway-720p.jsonl").read_text().splitlines()
    assert len(lines) == 120
    report("pipeline_order", gpu=yolox16.engine.runtime.device_name, fps=summary.fps, frames=summary.frames_out)


def test_cli_detect_with_torch_fp16(tmp_path):
    import time
    out = tmp_path / "out"
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "trafficpipe", "detect", VIDEO, "--engine", "torch", "--precision",
                           "fp16", "--batch", "8", "--max-frames", "40", "--save", "jsonl", "--out", str(out),
                           "--no-progress", "--log-level", "DEBUG"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=300)
    err = proc.stderr.decode()
    report("cli_detect_torch_fp16", wall_s=time.time() - t0, t_start=t0,
           log=[l[:160] for l in err.splitlines() if "DEBUG" in l or "INFO" in l or "WARN" in l][-40:])
    assert proc.returncode == 0, err[-2000:]
    lines = (out / "highway-720p.jsonl").read_text().splitlines()
    assert len(lines) == 40
