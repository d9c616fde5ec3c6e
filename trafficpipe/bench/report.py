"""The bench's arithmetic (per-stage rows, the bound, ratios, median and spread over repeats) and its terminal table."""
import numpy as np

from ..pipeline.metrics import percentiles

#: pipeline stages in flow order, and the ceilings that make up each one (the pipeline draws in postprocess; with
#: --track the writer thread first runs the tracker, timed apart as "track")
STAGES = ("capture", "preprocess", "infer", "postprocess", "track", "write")
CEILING_PARTS = {"capture": ("capture",), "preprocess": ("preprocess",), "infer": ("infer",),
                 "postprocess": ("postprocess", "draw"), "write": ("write",)}
#: table labels of the ceilings (decode only ... encode only)
CEILING_LABELS = (("capture", "decode"), ("preprocess", "preprocess"), ("infer", "infer"),
                  ("postprocess", "postprocess"), ("encode", "encode (draw+write)"))

#: the bench's targets on the CPU (ONNX Runtime) and on a GPU: ratio name -> minimum
CPU_TARGETS = {"pipeline_over_seed": 1.5, "pipeline_over_bound": 0.9}
GPU_TARGETS = {"pipeline_over_decode": 0.8, "pipeline_over_seed": 5.0}

__all__ = ["percentiles", "stage_rows", "bound", "ratios", "spread", "median_tree", "aggregate_runs", "targets_for",
           "format_report"]


def _queue_ends(name):
    # type: (str) -> tuple
    """("capture", "preprocess") from a queue name like "capture->preprocess" or "preprocess->infer[0]"."""
    a, _, b = name.partition("->")
    return a.strip(), b.split("[", 1)[0].strip()


def _cpu_text(ms):
    # type: (float) -> str
    return "-" if ms is None else "%.2f" % ms


def stage_rows(summary):
    # type: (dict) -> list
    """Per pipeline stage: work-time latency percentiles, busy fraction, queue waits, input-queue depth, drops.

    `summary` is a Pipeline RunSummary (or the same dict). A stage's waits are the time its threads spent blocked on
    its input queues (get) and on its output queues (put); depth and drops are those of its input queues.
    """
    wall = float(summary["wall_s"])
    rows = []
    for name in STAGES:
        st = summary["stages"].get(name)
        if st is None:
            continue
        ins = [q for q in summary["queues"] if _queue_ends(q["name"])[1] == name]
        outs = [q for q in summary["queues"] if _queue_ends(q["name"])[0] == name]
        wait_in = sum(q["wait_get_s"] for q in ins)
        wait_out = sum(q["wait_put_s"] for q in outs)
        threads = max(1, st["workers"])
        rows.append({
            "stage": name, "workers": st["workers"], "items": st["items"], "frames": st["frames"],
            "latency_ms": dict(st["latency_ms"]), "ms_per_frame": st["ms_per_frame"],
            "thread_cpu_ms_per_frame": st.get("cpu_ms_per_frame"),
            "busy_fraction": st["busy_fraction"],
            "wait_in_s": wait_in, "wait_out_s": wait_out,
            "wait_in_fraction": wait_in / (wall * threads) if wall > 0 else 0.0,
            "wait_out_fraction": wait_out / (wall * threads) if wall > 0 else 0.0,
            "queue_depth_mean": float(np.mean([q["depth_mean"] for q in ins])) if ins else 0.0,
            "queue_depth_max": max([q["depth_max"] for q in ins]) if ins else 0,
            "dropped": sum(q["dropped"] for q in ins),
        })
    return rows


def stage_ms(ceilings):
    # type: (dict) -> dict
    """Wall and CPU ms per frame of each pipeline stage, summed from the ceilings that make it up."""
    out = {}
    for stage, parts in CEILING_PARTS.items():
        got = [ceilings[p] for p in parts if p in ceilings]
        if got:
            out[stage] = {"ms_per_frame": sum(c["ms_per_frame"] for c in got),
                          "cpu_ms_per_frame": sum(c["cpu_ms_per_frame"] for c in got)}
    return out


def bound(ceilings, workers, cores):
    # type: (dict, dict, float) -> dict
    """The fastest the pipeline can go: max(slowest stage's time per frame, total CPU work per frame / cores).

    `ceilings`: {name: {"ms_per_frame", "cpu_ms_per_frame"}} measured with each stage alone (one thread);
    `workers`: threads per pipeline stage (a stage with W threads takes ms_per_frame / W); `cores` available.
    """
    per_stage = stage_ms(ceilings)
    terms = {}
    for stage, v in per_stage.items():
        terms[stage] = v["ms_per_frame"] / max(1, int(workers.get(stage, 1)))
    slowest = max(terms, key=terms.get) if terms else None
    cpu = sum(v["cpu_ms_per_frame"] for v in per_stage.values())
    cpu_term = cpu / float(cores) if cores else 0.0
    slow_ms = terms[slowest] if slowest else 0.0
    ms = max(slow_ms, cpu_term)
    return {"ms_per_frame": ms, "fps": 1000.0 / ms if ms > 0 else 0.0,
            "limited_by": "cpu" if cpu_term > slow_ms else slowest,
            "slowest_stage": slowest, "slowest_stage_ms": slow_ms, "stage_ms": terms,
            "cpu_ms_per_frame": cpu, "cores": cores, "cpu_term_ms": cpu_term}


def _ratio(a, b):
    return a / b if b else 0.0


def ratios(pipeline_fps, seed_fps, bound_fps, decode_fps):
    # type: (float, float, float, float) -> dict
    """pipeline ÷ seed loop, pipeline ÷ bound and pipeline ÷ decode-only (all fps ratios; 0 where undefined)."""
    return {"pipeline_over_seed": _ratio(pipeline_fps, seed_fps),
            "pipeline_over_bound": _ratio(pipeline_fps, bound_fps),
            "pipeline_over_decode": _ratio(pipeline_fps, decode_fps)}


def targets_for(engine):
    # type: (str) -> dict
    """The targets that apply to `engine` (GPU targets for torch and TensorRT, CPU targets otherwise)."""
    return dict(GPU_TARGETS if engine in ("torch", "tensorrt") else CPU_TARGETS)


def check_targets(rat, targets):
    # type: (dict, dict) -> dict
    return {k: {"target": t, "value": rat.get(k, 0.0), "met": rat.get(k, 0.0) >= t} for k, t in targets.items()}


def spread(values):
    # type: (list) -> dict
    """Median, min, max and relative spread ((max - min) / median) of repeated measurements."""
    arr = np.asarray([float(v) for v in values], np.float64)
    if arr.size == 0:
        return {"median": 0.0, "min": 0.0, "max": 0.0, "spread": 0.0, "n": 0}
    med = float(np.median(arr))
    lo, hi = float(arr.min()), float(arr.max())
    return {"median": med, "min": lo, "max": hi, "spread": (hi - lo) / med if med else 0.0, "n": int(arr.size)}


def _is_num(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def median_tree(items):
    # type: (list) -> object
    """The element-wise median of same-shaped nested dicts/lists (numbers -> median; anything else: the first's)."""
    first = items[0]
    if isinstance(first, dict):
        return {k: median_tree([it[k] for it in items if isinstance(it, dict) and k in it]) for k in first}
    if isinstance(first, (list, tuple)) and all(isinstance(it, (list, tuple)) and len(it) == len(first)
                                                for it in items):
        return [median_tree([it[i] for it in items]) for i in range(len(first))]
    if _is_num(first) and all(_is_num(it) for it in items):
        med = float(np.median([float(it) for it in items]))
        return int(round(med)) if all(isinstance(it, (int, np.integer)) for it in items) and med.is_integer() else med
    return first


#: headline figures whose spread over repeats is reported: name -> path in a run
HEADLINES = (
    ("seed_fps", ("seed", "fps")),
    ("pipeline_fps", ("pipeline", "fps")),
    ("bound_fps", ("bound", "fps")),
    ("pipeline_over_seed", ("ratios", "pipeline_over_seed")),
    ("pipeline_over_bound", ("ratios", "pipeline_over_bound")),
    ("pipeline_over_decode", ("ratios", "pipeline_over_decode")),
    ("pipeline_over_decode_processes", ("ratios", "pipeline_over_decode_processes")),
    ("latency_p50_ms", ("pipeline", "latency_ms", "p50")),
    ("latency_p99_ms", ("pipeline", "latency_ms", "p99")),
    ("decode_fps", ("ceilings", "capture", "fps")),
    ("decode_processes_fps", ("ceilings", "capture_processes", "fps")),
    ("preprocess_fps", ("ceilings", "preprocess", "fps")),
    ("infer_fps", ("ceilings", "infer", "fps")),
    ("postprocess_fps", ("ceilings", "postprocess", "fps")),
    ("encode_fps", ("ceilings", "encode", "fps")),
)


def _get(d, path):
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def aggregate_runs(runs):
    # type: (list) -> dict
    """{"median": element-wise median of the runs, "spread": {headline: spread(...)}} over repeated runs.

    Ratios are medians of the per-run ratios (each measured within one repeat), not ratios of medians; the median
    bound is computed from the median ceilings.
    """
    spreads = {}
    for name, path in HEADLINES:
        vals = [_get(r, path) for r in runs]
        vals = [v for v in vals if _is_num(v)]
        if vals:
            spreads[name] = spread(vals)
    for i, s in enumerate(runs[0].get("streams", [])):
        vals = [r["streams"][i]["fps"] for r in runs if len(r.get("streams", [])) > i]
        spreads["streams_%d_fps" % s["n"]] = spread(vals)
    med = median_tree(runs)
    if all("cores" in r.get("bound", {}) and "ceilings" in r and "pipeline" in r for r in runs):
        # one consistent bound from the median ceilings (field-wise medians of bounds need not agree with each other)
        cores = runs[0]["bound"]["cores"]
        med["bound"] = bound(med["ceilings"], stage_workers(med["pipeline"]), cores)
        for s in med.get("streams", []):
            s["bound"] = bound(med["ceilings"], stream_workers(s), cores)
    return {"median": med, "spread": spreads}


def stage_workers(pipe):
    """{stage: threads} of a pipeline result."""
    return dict((r["stage"], r["workers"]) for r in pipe.get("stages", []))


def stream_workers(res):
    """{stage: threads} of a multi-source result, over all its processes (one process per source: each has the
    stage threads of the first one's rows)."""
    n = int(res.get("processes") or 1)
    return dict((k, w * n) for k, w in stage_workers(res).items())


# -- terminal table ---------------------------------------------------------------------------------------------------
def _pm(spreads, key):
    s = spreads.get(key)
    if not s or s["n"] < 2:
        return ""
    return " ±%.0f%%" % (50.0 * s["spread"])


def _fmt_table(header, rows):
    widths = [max(len(str(h)), max([len(str(r[i])) for r in rows] or [0])) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _engine_text(d):
    """"onnxruntime fp32, 1 thread x 2 runs" style summary of a detector's describe()."""
    text = "%s %s" % (d.get("engine"), d.get("precision"))
    if "threads" in d:
        text += ", %s thread(s) x %s run(s)%s" % (d["threads"], d.get("concurrency", 1),
                                                  ", spinning" if d.get("spinning") else "")
    return text


def format_report(report):
    # type: (dict) -> str
    """The terminal table of a bench report (medians over repeats; ±x% = half the min-max spread)."""
    med, spreads = report["median"], report["spread"]
    cfg, mach = report["config"], report["machine"]
    det = report["detector"]
    out = []
    in_flight = (med.get("pipeline") or {}).get("in_flight") or cfg.get("in_flight")
    out.append("trafficpipe bench: %s | %s (%s) | %s %s | %d frames x %d repeat(s) | batch %d, contexts %d%s, "
               "pre %d / post %d workers, output %s"
               % (cfg["source_name"], det.get("model"), det.get("family"), det.get("engine"), det.get("precision"),
                  med["frames"], cfg["repeat"], cfg["batch"], cfg["contexts"],
                  " x %d in flight" % in_flight if in_flight else "", cfg["preprocess_workers"],
                  cfg["postprocess_workers"], cfg["output"]))
    libs = ", ".join("%s %s" % kv for kv in sorted(mach["libraries"].items()))
    out.append("machine: %s, %d cores available (of %d)%s; load avg %s; %s"
               % (mach["cpu_model"], mach["cores_available"], mach["cpu_count"],
                  ("; GPU %s" % mach["gpu"]) if mach.get("gpu") else "",
                  " ".join("%.2f" % x for x in report["load_avg"]["start"]), libs))
    out.append("")
    rows = []
    for key, label in CEILING_LABELS:
        c = med["ceilings"].get(key)
        if c is None:
            continue
        lat = c["latency_ms"]
        rows.append([label, "%.1f%s" % (c["fps"], _pm(spreads, ("decode" if key == "capture" else key) + "_fps")),
                     "%.2f" % c["ms_per_frame"], "%.2f" % c["cpu_ms_per_frame"],
                     "%.2f" % lat["p50"], "%.2f" % lat["p95"], "%.2f" % lat["p99"]])
    out.append("stage ceilings (each stage alone, one thread, %d frames in memory)" % med["ceilings"]["frames"])
    out.append(_fmt_table(["stage", "fps", "ms/frame", "cpu ms/frame", "p50 ms", "p95 ms", "p99 ms"], rows))
    out.append("")
    seed = med["seed"]
    rows = [[name, "%.2f" % s["latency_ms"]["p50"], "%.2f" % s["latency_ms"]["p95"], "%.2f" % s["latency_ms"]["p99"],
             "%.2f" % s["ms_per_frame"], "%.0f%%" % (100 * s["busy_fraction"])] for name, s in seed["stages"].items()]
    sd = report.get("seed_detector") or det
    out.append("seed loop (one thread: read -> preprocess -> infer -> postprocess -> draw -> write): %.1f fps%s   "
               "[engine: %s]" % (seed["fps"], _pm(spreads, "seed_fps"), _engine_text(sd)))
    out.append(_fmt_table(["stage", "p50 ms", "p95 ms", "p99 ms", "ms/frame", "share"], rows))
    out.append("")
    pipe = med["pipeline"]
    rows = []
    for r in pipe["stages"]:
        lat = r["latency_ms"]
        rows.append([r["stage"], r["workers"], "%.2f" % lat["p50"], "%.2f" % lat["p95"], "%.2f" % lat["p99"],
                     "%.2f" % r["ms_per_frame"], _cpu_text(r.get("thread_cpu_ms_per_frame")),
                     "%.0f%%" % (100 * r["busy_fraction"]), "%.2f" % r["wait_in_s"], "%.2f" % r["wait_out_s"],
                     "%.1f/%d" % (r["queue_depth_mean"], r["queue_depth_max"]), r["dropped"]])
    out.append("pipeline (threads joined by bounded queues): %.1f fps%s; capture->write latency p50 %.1f ms, "
               "p99 %.1f ms   [engine: %s]"
               % (pipe["fps"], _pm(spreads, "pipeline_fps"), pipe["latency_ms"]["p50"], pipe["latency_ms"]["p99"],
                  _engine_text(det)))
    out.append(_fmt_table(["stage", "threads", "p50 ms", "p95 ms", "p99 ms", "ms/frame", "thread cpu", "busy",
                           "wait in s", "wait out s", "in-queue mean/max", "drops"], rows))
    out.append("")
    b = med["bound"]
    out.append("bound: %.2f ms/frame = %.1f fps (limited by %s; slowest stage %s %.2f ms/frame, CPU work %.2f ms/frame "
               "/ %g cores = %.2f ms)" % (b["ms_per_frame"], b["fps"], b["limited_by"], b["slowest_stage"],
                                          b["slowest_stage_ms"], b["cpu_ms_per_frame"], b["cores"], b["cpu_term_ms"]))
    rat = med["ratios"]
    out.append("pipeline / seed loop = %.2fx%s   pipeline / bound = %.2f%s   pipeline / decode-only = %.2f%s"
               % (rat["pipeline_over_seed"], _pm(spreads, "pipeline_over_seed"), rat["pipeline_over_bound"],
                  _pm(spreads, "pipeline_over_bound"), rat["pipeline_over_decode"],
                  _pm(spreads, "pipeline_over_decode")))
    dp = med["ceilings"].get("capture_processes")
    if dp:
        out.append("decode-only in %d decoder process(es) (the pipeline's own reader%s): %.1f fps%s; pipeline / that "
                   "= %.2f%s; one in-process decoder (decode-only above): %.1f fps"
                   % (dp["processes"], ", preprocessing too" if dp.get("preprocessed") else "", dp["fps"],
                      _pm(spreads, "decode_processes_fps"), rat.get("pipeline_over_decode_processes", 0.0),
                      _pm(spreads, "pipeline_over_decode_processes"), med["ceilings"]["capture"]["fps"]))
    for label, children in (("in the run", pipe.get("decoders") or []),
                            ("alone", (dp or {}).get("children") or [])):
        for k, c in enumerate(children):
            if c.get("wall_s"):
                out.append("decoder process %d %s: %d frames at %.1f fps; decode %.2f s, resize %.2f s, waiting for "
                           "a free slot %.2f s / a buffer %.2f s, CPU %.2f s over %.2f s"
                           % (k, label, c["frames"], c["fps"], c["decode_s"], c["resize_s"], c["wait_slot_s"],
                              c["wait_buffer_s"], c["cpu_s"], c["wall_s"]))
    ph = pipe.get("phases_ms") or {}
    if "last_write" in ph:
        out.append("run phases, ms from the start: frames captured %.1f-%.1f, written %.1f-%.1f%s"
                   % (ph["first_capture"], ph["last_capture"], ph["first_write"], ph["last_write"],
                      "".join("; %s %.1f-%.1f" % (k.replace("_", " ", 1), v[0], v[1])
                              for k, v in sorted(ph.items()) if k.startswith("decoder_"))))
    tg = report.get("targets", {})
    if tg:
        out.append("targets: " + ", ".join("%s >= %g: %s (%.2f)" % (k, v["target"], "met" if v["met"] else "MISSED",
                                                                    v["value"]) for k, v in sorted(tg.items())))
    if med.get("streams"):
        out.append("")
        rows = []
        for s in med["streams"]:
            lat = ", ".join("%.0f/%.0f" % (src["latency_ms"]["p50"], src["latency_ms"]["p99"]) for src in s["sources"])
            dec = s.get("decode_together") or {}
            rows.append([s["n"], "%.1f%s" % (s["fps"], _pm(spreads, "streams_%d_fps" % s["n"])),
                         "%.1f" % s["fps_per_source"], "%.2fx" % s["scaling"], "%.1f" % s["bound"]["fps"],
                         "%.2f" % s["pipeline_over_bound"], "%.1f" % dec.get("fps", 0.0),
                         "%.2f" % s.get("pipeline_over_decode", 0.0), lat])
        out.append("multi-source (the same file opened N times, %s)"
                   % ("one process per source" if med["streams"][0].get("processes") else "in one process"))
        out.append(_fmt_table(["sources", "fps", "fps/source", "vs 1 source", "bound fps", "vs bound",
                               "decode-only fps", "vs decode", "latency p50/p99 ms per source"], rows))
        out.append("(decode-only: the same number of decoders decoding at once, laid out as the pipeline's)")
    return "\n".join(out) + "\n"
