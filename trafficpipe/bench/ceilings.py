"""Stage ceilings: each stage alone, in one thread, on the same frames decoded once into memory.

Each ceiling is timed with the pipeline's own StageStats (one duration per work item) plus the process CPU time of the
whole loop, so the bound can weigh both a stage's wall time and the cores its work occupies (ONNX Runtime's intra-op
threads, FFmpeg's decoder threads).
"""
import time

from ..draw import draw_detections
from ..engines.device_frames import fill_input, host_image
from ..pipeline.frame import Frame
from ..pipeline.metrics import StageStats, percentiles
from ..sinks.files import make_sinks
from ..sinks.outputs import log_replaced
from ..sources.factory import open_source
from ..sources.images import ImageSource

#: most memory the ceilings' slot ring may hold (inputs + outputs); inference cycles through the ring
MAX_RING_BYTES = 256 << 20
MAX_RING_SLOTS = 8


class StageClock(object):
    """Times one stage loop: per-item durations into a StageStats, plus the loop's wall and process CPU time."""

    def __init__(self, name):
        self.stats = StageStats(name, keep=None)
        self.wall = 0.0
        self.cpu = 0.0

    def __enter__(self):
        self._w0 = time.perf_counter()
        self._c0 = time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._w0
        self.cpu = time.process_time() - self._c0

    def result(self):
        # type: () -> dict
        """StageStats summary plus fps (frames / busy time), CPU ms per frame and the loop's wall time."""
        s = self.stats.summary(self.wall)
        s["fps"] = s["frames"] / s["busy_s"] if s["busy_s"] > 0 else 0.0
        s["cpu_s"] = self.cpu
        s["cpu_ms_per_frame"] = self.cpu * 1000.0 / s["frames"] if s["frames"] else 0.0
        s["loop_wall_s"] = self.wall
        return s


def _combine(parts, frames):
    """One ceiling made of several timed parts per frame (encode = draw + write)."""
    per_frame = [sum(vals) * 1000.0 for vals in zip(*[p.stats.durations for p in parts])]
    busy = sum(sum(p.stats.durations) for p in parts)
    cpu = sum(p.cpu for p in parts)
    return {"workers": 1, "items": len(per_frame), "frames": frames, "busy_s": busy, "busy_fraction": 1.0,
            "ms_per_frame": busy * 1000.0 / frames if frames else 0.0, "latency_ms": percentiles(per_frame),
            "fps": frames / busy if busy > 0 else 0.0, "cpu_s": cpu,
            "cpu_ms_per_frame": cpu * 1000.0 / frames if frames else 0.0,
            "loop_wall_s": sum(p.wall for p in parts), "parts": [p.stats.name for p in parts]}


def decode_frames(uri, max_frames, keep=True):
    # type: (str, int, bool) -> tuple
    """Decode up to `max_frames` frames of `uri`: (source, images, pts, StageClock); images only when `keep`.

    The timed decode-only pass keeps nothing (as in the pipeline, decoded frames are freed and their memory reused):
    keeping hundreds of fresh 2.7 MB frames would time first-touch page faults, not decoding.
    """
    src = open_source(uri)
    images, pts = [], []
    clock = time.perf_counter
    timer = StageClock("capture")
    n = 0
    try:
        with timer:
            record = timer.stats.record
            while max_frames is None or n < max_frames:
                t0 = clock()
                got = src.read()
                t1 = clock()
                if got is None:
                    break
                record(t1 - t0)
                n += 1
                if keep:
                    images.append(got[0])
                    pts.append(got[1])
    finally:
        src.close()
    return src, images, pts, timer


def decode_in_processes(uri, n, max_frames, adapter=None, keep_frames=True):
    # type: (str, int, int, object, bool) -> dict
    """Decode-only through `n` decoder processes, as `--decode-processes n` runs them (preprocessing in the children
    where `adapter` is given), every frame given back at once: fps (frames / wall from the start of decoding), frames,
    wall_s, start_s (spawning the children and opening the file, outside the timed part) and processes."""
    import threading
    from ..sources.decoders.processes import open_decoders
    src = open_source(uri)
    t0 = time.perf_counter()
    try:
        procs = open_decoders(src, n, max_frames, adapter, 32, keep_frames)
    except BaseException:
        src.close()
        raise
    started = time.perf_counter() - t0
    counts = [0] * len(procs.children)
    errors = []

    def drain(k):
        child = procs.children[k]
        try:
            while True:
                recs = child.read(None)
                if not recs:
                    return
                for r in recs:
                    if r[0] != "missing":
                        counts[k] += 1
                        child.give_back(r[0])
        except Exception as e:  # noqa: B902 - reported with the result
            errors.append(str(e))

    threads = [threading.Thread(target=drain, args=(k,)) for k in range(len(procs.children))]
    try:
        t1 = time.perf_counter()
        procs.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t1
    finally:
        procs.close()
        src.close()
    frames = sum(counts)
    return {"fps": frames / wall if wall > 0 else 0.0, "frames": frames, "wall_s": wall, "start_s": started,
            "processes": len(procs.children), "chunks": len(procs.chunks), "preprocessed": procs.prepared,
            "errors": errors, "children": [c.timing for c in procs.children]}


def measure_ceilings(uri, detector, max_frames, batch=1, outputs=("video",), out_dir=None, warmup=2):
    # type: (str, object, int, int, tuple, str, int) -> tuple
    """Each stage alone on the same frames: ({stage: result}, {stage: latencies in ms}).

    Stages: capture (decode only, a pass of its own), preprocess, infer (slots of `batch` frames, two in flight like
    the pipeline), postprocess, draw and write (the sinks of `outputs` under `out_dir`); "encode" = draw + write per
    frame.
    """
    _, _, _, decode = decode_frames(uri, max_frames, keep=False)  # timed
    src, images, pts, _ = decode_frames(uri, max_frames)  # the frames every later stage works on
    n = len(images)
    results = {"capture": decode.result()}
    raw = {"capture": [d * 1000.0 for d in decode.stats.durations]}
    if n == 0:
        results["frames"] = 0
        return results, raw
    engine, adapter = detector.engine, detector.adapter
    batch = max(1, int(batch))
    n_batches = -(-n // batch)
    slot_bytes = batch * (sum(_nbytes(s) for s in engine.inputs) + sum(_nbytes(s) for s in engine.outputs))
    k = max(1, min(n_batches, MAX_RING_SLOTS, MAX_RING_BYTES // max(1, slot_bytes)))
    ctx = engine.create_context(k, batch)
    try:
        slots = [ctx.acquire() for _ in range(k)]
        holds = [[] for _ in range(k)]  # frame indices each slot holds (the last batch written into it)
        metas = [None] * n
        pre = StageClock("preprocess")
        clock = time.perf_counter
        with pre:
            record = pre.stats.record
            for i in range(n):
                s = (i // batch) % k
                pos = i % batch
                if pos == 0:
                    holds[s] = []
                t0 = clock()
                metas[i] = fill_input(adapter, slots[s], pos, images[i])
                record(clock() - t0)
                holds[s].append(i)
        results["preprocess"] = pre.result()

        for _ in range(warmup):  # first runs allocate, tune or capture graphs
            slots[0].size = len(holds[0])
            ctx.run(slots[0])
        infer = StageClock("infer")
        depth = 2 if k >= 2 else 1
        with infer:
            record = infer.stats.record
            inflight = []
            for j in range(n_batches):
                slot = slots[j % k]
                slot.size = min(batch, n - j * batch)
                t0 = clock()
                ctx.submit(slot)
                inflight.append((t0, clock() - t0))
                if ctx.pending() >= depth:
                    _collect(ctx, inflight, record, clock)
            while ctx.pending():
                _collect(ctx, inflight, record, clock)
        results["infer"] = infer.result()

        # outputs still in the ring after inference, with the metas of the frames they came from
        kept = [(slots[s], pos, i) for s in range(k) for pos, i in enumerate(holds[s])]
        names = detector.output_names
        postprocess = adapter.postprocess
        post = StageClock("postprocess")
        dets = [None] * len(kept)
        with post:
            record = post.stats.record
            for i in range(n):
                slot, pos, fi = kept[i % len(kept)]
                t0 = clock()
                d = postprocess(slot.output_list(names, pos), metas[fi])
                record(clock() - t0)
                dets[i % len(kept)] = d
        results["postprocess"] = post.result()
        for s in slots:
            ctx.release(s)
    finally:
        ctx.close()
        if ctx in engine.contexts:
            engine.contexts.remove(ctx)

    sinks = make_sinks(outputs, out_dir, src, isinstance(src, ImageSource)) if (outputs and out_dir) else []
    log_replaced([sinks])  # what an earlier run left here, as the pipeline says
    if sinks:
        draw_on = any(s.needs_image for s in sinks)
        draw, write = StageClock("draw"), StageClock("write")
        frames = []
        for i in range(n):
            f = Frame(0, i, 0.0, images[i], pts[i])
            f.detections = dets[i % len(dets)]
            frames.append(f)
        try:
            if draw_on:
                with draw:
                    record = draw.stats.record
                    for f in frames:
                        t0 = clock()
                        draw_detections(host_image(f), f.detections)
                        record(clock() - t0)
            with write:
                record = write.stats.record
                for f in frames:
                    t0 = clock()
                    for sink in sinks:
                        sink.write(f)
                    record(clock() - t0)
        finally:
            for sink in sinks:
                sink.close()
        parts = [draw, write] if draw_on else [write]
        if draw_on:
            results["draw"] = draw.result()
        results["write"] = write.result()
        results["encode"] = _combine(parts, n)
    results["frames"] = n
    results["ring_slots"] = k
    for c in (pre, infer, post) + ((draw, write) if sinks else ()):
        if c.stats.durations:
            raw[c.stats.name] = [d * 1000.0 for d in c.stats.latencies]
    if sinks:
        raw["encode"] = [sum(v) * 1000.0 for v in zip(*[p.stats.durations for p in parts])]
    return results, raw


def _collect(ctx, inflight, record, clock):
    """Collect the oldest slot in flight, as the pipeline's inference stage does: busy = submit + collect time,
    latency = submit to collected."""
    t0 = clock()
    done = ctx.collect()
    t1 = clock()
    submitted, submit_s = inflight.pop(0)
    record(submit_s + t1 - t0, done.size, t1 - submitted)


def _nbytes(spec):
    size = spec.dtype.itemsize
    for d in spec.shape[1:]:
        size *= d if isinstance(d, int) and d > 0 else 1
    return size
