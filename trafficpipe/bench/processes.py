"""Multi-source bench, one process per source: N processes, each with its own detector and one-source pipeline, start
together (after loading, warming up and building their engine contexts) on the same file; aggregate fps = all frames /
(last end - first start).

One process holds one GIL: in a single process every source's capture thread and every stage share it, which is what
limits several sources at once on a many-core host. This measures the other layout on the same machine.
"""
import multiprocessing
import os
import time


def _child(kwargs, uri, cfg, out_dir, warmup, barrier, results, index, log_level, decoding):
    from ..detector import Detector
    from ..log import quiet_native_logs, setup_logging
    from ..sources.video import apply_decoding_settings
    from .pipeline_run import run_pipeline, warm_up
    setup_logging(log_level)
    quiet_native_logs()
    apply_decoding_settings(decoding)
    try:
        detector = Detector(**kwargs)
        warm_up(uri, detector, warmup)
    except Exception as e:  # noqa: BLE001 - reported to the parent, which fails in one line
        barrier.abort()
        results.put((index, None, "%s: %s" % (type(e).__name__, e)))
        return
    started = []

    def start():  # every process waits here with its engine contexts built, so the runs overlap
        barrier.wait()
        started.append(time.time())

    try:
        res, _, _ = run_pipeline([uri], detector, cfg, out_dir, on_start=start)
    except Exception as e:  # noqa: BLE001 - a broken barrier (a sibling failed) or a pipeline error
        results.put((index, None, "%s: %s" % (type(e).__name__, e)))
        return
    finally:
        detector.close()
    res["t_start"], res["t_end"] = started[0], time.time()
    results.put((index, res, None))


def run_stream_processes(uri, n, cfg, detector_kwargs, out_dir, log_level="WARNING", timeout=600.0):
    # type: (str, int, object, dict, str, str, float) -> dict
    """Run `n` one-source pipelines on `uri` in `n` processes at once: a result shaped like `run_pipeline`'s
    (fps = aggregate, `sources` = one row per process, `stages` = the first process's, `processes` = n)."""
    from ..sources.video import decoding_settings
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no CUDA state or threads inherited
    barrier = ctx.Barrier(n)
    results = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(detector_kwargs, uri, cfg, os.path.join(out_dir, "process-%d" % i),
                                              cfg.warmup, barrier, results, i, log_level,
                                              decoding_settings()),
                         daemon=True)
             for i in range(n)]
    for p in procs:
        p.start()
    got, errors = {}, []
    deadline = time.time() + timeout
    try:
        while len(got) + len(errors) < n:
            left = deadline - time.time()
            if left <= 0:
                raise RuntimeError("%d of %d bench processes did not finish in %.0f s" % (n - len(got), n, timeout))
            try:
                i, res, err = results.get(timeout=min(left, 1.0))
            except Exception:  # queue.Empty: check that the children are still alive
                if not any(p.is_alive() for p in procs) and results.empty():
                    raise RuntimeError("bench processes ended without a result (exit codes %s)"
                                       % [p.exitcode for p in procs])
                continue
            if err:
                errors.append("process %d: %s" % (i, err))
            else:
                got[i] = res
    finally:
        for p in procs:
            p.join(timeout=5.0)
            if p.is_alive():
                p.terminate()
    if errors:
        raise RuntimeError("; ".join(errors))
    rows = [got[i] for i in range(n)]
    t0 = min(r["t_start"] for r in rows)
    t1 = max(r["t_end"] for r in rows)
    frames = sum(r["frames"] for r in rows)
    wall = t1 - t0
    first = rows[0]
    sources = []
    for i, r in enumerate(rows):
        s = dict(r["sources"][0])
        s["name"] = "%s (process %d)" % (s["name"], i)
        sources.append(s)
    return {"sources_n": n, "processes": n, "frames": frames, "frames_in": sum(r["frames_in"] for r in rows),
            "dropped": sum(r["dropped"] for r in rows), "wall_s": wall, "fps": frames / wall if wall > 0 else 0.0,
            "cpu_s": sum(r["cpu_s"] for r in rows),
            "cpu_ms_per_frame": sum(r["cpu_s"] for r in rows) * 1000.0 / frames if frames else 0.0,
            "latency_ms": first["latency_ms"], "stages": first["stages"], "queues": first["queues"],
            "sources": sources, "batch": first["batch"], "contexts": first["contexts"],
            "start_skew_s": max(r["t_start"] for r in rows) - t0}
