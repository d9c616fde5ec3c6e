"""The decode-only ceiling of N sources at once: N decoders of the same file started together (threads of one process,
or one process each, as the multi-source pipeline runs them), aggregate fps = all frames / (last end - first start).

On a host whose cores the decoders share, N decoders together decode less than N times one; this is the figure a
multi-source pipeline is compared with to tell whether decoding is its limit.
"""
import multiprocessing
import threading
import time


def _decode(uri, max_frames, start):
    """Decode up to `max_frames` frames of `uri` (reusing one buffer) once `start()` returns: (frames, t0, t1)."""
    from ..sources.factory import open_source
    src = open_source(uri)
    n, buf = 0, None
    try:
        start()
        t0 = time.time()
        while max_frames is None or n < max_frames:
            got = src.read(buf)
            if got is None:
                break
            buf = got[0]
            n += 1
        t1 = time.time()
    finally:
        src.close()
    return n, t0, t1


def _child(uri, max_frames, barrier, results, index, decoding, log_level):
    from ..log import quiet_native_logs, setup_logging
    from ..sources.video import apply_decoding_settings
    setup_logging(log_level)
    quiet_native_logs()
    apply_decoding_settings(decoding)
    try:
        results.put((index, _decode(uri, max_frames, barrier.wait), None))
    except Exception as e:  # noqa: BLE001 - reported to the parent
        barrier.abort()
        results.put((index, None, "%s: %s" % (type(e).__name__, e)))


def decode_together(uri, n, max_frames=None, processes=False, log_level="WARNING", timeout=300.0):
    # type: (str, int, int, bool, str, float) -> dict
    """Decode `uri` `n` times at once (threads, or `processes`): {"n", "processes", "frames", "wall_s", "fps",
    "fps_per_source"}; raises RuntimeError if a decoder fails."""
    rows, errors = [None] * n, []
    if processes:
        from ..sources.video import decoding_settings
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(n)
        results = ctx.Queue()
        procs = [ctx.Process(target=_child, args=(uri, max_frames, barrier, results, i,
                                                  decoding_settings(), log_level), daemon=True)
                 for i in range(n)]
        for p in procs:
            p.start()
        deadline = time.time() + timeout
        try:
            for _ in range(n):
                try:
                    i, row, err = results.get(timeout=max(1.0, deadline - time.time()))
                except Exception:  # queue.Empty
                    raise RuntimeError("decoder processes gave no result in %.0f s" % timeout)
                rows[i] = row
                if err:
                    errors.append("decoder process %d: %s" % (i, err))
        finally:
            for p in procs:
                p.join(timeout=5.0)
                if p.is_alive():
                    p.terminate()
    else:
        barrier = threading.Barrier(n)

        def work(i):
            try:
                rows[i] = _decode(uri, max_frames, barrier.wait)
            except Exception as e:  # noqa: BLE001 - reported below
                barrier.abort()
                errors.append("decoder thread %d: %s: %s" % (i, type(e).__name__, e))
        threads = [threading.Thread(target=work, args=(i,), name="decode-%d" % i) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if errors or any(r is None for r in rows):
        raise RuntimeError("; ".join(errors) or "a decoder gave no result")
    frames = sum(r[0] for r in rows)
    wall = max(r[2] for r in rows) - min(r[1] for r in rows)
    fps = frames / wall if wall > 0 else 0.0
    return {"n": n, "processes": bool(processes), "frames": frames, "wall_s": wall, "fps": fps,
            "fps_per_source": fps / n}
