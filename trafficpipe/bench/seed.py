"""The seed loop: the reference one-thread `detect_video`, built from the pipeline's own stage functions.

read -> preprocess -> infer -> postprocess -> draw -> write, one frame at a time in the calling thread, with the same
source reader, adapter, engine execution context (one slot, batch 1), draw_detections and sinks as the pipeline, so the
pipeline / seed ratio measures the threading and nothing else.
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

SEED_STAGES = ("capture", "preprocess", "infer", "postprocess", "draw", "write")


def run_seed_loop(uri, detector, outputs=("video",), out_dir=None, max_frames=None):
    # type: (str, object, tuple, str, int) -> tuple
    """Run the seed loop over `uri`: (result dict, {stage: durations in ms}).

    The result has frames, wall_s, fps, cpu_ms_per_frame, per-stage StageStats summaries (busy_fraction = the
    stage's share of the loop) and capture->write latency percentiles (end of read to end of write, like the pipeline).
    """
    src = open_source(uri)
    engine, adapter = detector.engine, detector.adapter
    sinks = []
    ctx = None
    stats = dict((name, StageStats(name, keep=None)) for name in SEED_STAGES)
    latencies = []
    try:
        sinks = make_sinks(outputs, out_dir, src, isinstance(src, ImageSource)) if (outputs and out_dir) else []
        log_replaced([sinks])  # what an earlier run left here, as the pipeline says
        draw = any(s.needs_image for s in sinks)
        ctx = engine.create_context(1, 1)
        slot = ctx.acquire()
        names = detector.output_names
        postprocess = adapter.postprocess
        rec = dict((name, stats[name].record) for name in SEED_STAGES)
        clock = time.perf_counter
        n = 0
        c0 = time.process_time()
        w0 = clock()
        image = None  # the last frame's buffer, decoded into again (as the pipeline recycles its buffers)
        while max_frames is None or n < max_frames:
            t0 = clock()
            got = src.read(image)
            t1 = clock()
            if got is None:
                break
            image = got[0]
            frame = Frame(0, n, t1, image, got[1])
            meta = fill_input(adapter, slot, 0, image)
            t2 = clock()
            slot.size = 1
            ctx.run(slot)
            t3 = clock()
            frame.detections = postprocess(slot.output_list(names, 0), meta)
            t4 = clock()
            if draw:
                draw_detections(host_image(frame), frame.detections)
            t5 = clock()
            for sink in sinks:
                sink.write(frame)
            t6 = clock()
            rec["capture"](t1 - t0)
            rec["preprocess"](t2 - t1)
            rec["infer"](t3 - t2)
            rec["postprocess"](t4 - t3)
            if draw:
                rec["draw"](t5 - t4)
            if sinks:
                rec["write"](t6 - t5)
            latencies.append((t6 - t1) * 1000.0)
            n += 1
        wall = clock() - w0
        cpu = time.process_time() - c0
        ctx.release(slot)
    finally:
        for sink in sinks:
            sink.close()
        src.close()
        if ctx is not None:
            ctx.close()
            if ctx in engine.contexts:
                engine.contexts.remove(ctx)
    result = {"frames": n, "wall_s": wall, "fps": n / wall if wall > 0 else 0.0, "cpu_s": cpu,
              "cpu_ms_per_frame": cpu * 1000.0 / n if n else 0.0,
              "stages": dict((name, stats[name].summary(wall)) for name in SEED_STAGES if stats[name].durations),
              "latency_ms": percentiles(latencies)}
    raw = dict((name, [d * 1000.0 for d in stats[name].durations]) for name in SEED_STAGES if stats[name].durations)
    return result, raw
