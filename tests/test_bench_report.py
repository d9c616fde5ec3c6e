"""The bench's arithmetic on hand-made numbers: percentiles, per-stage rows, the bound, ratios, repeats."""
import pytest

from trafficpipe.bench.report import (aggregate_runs, bound, check_targets, median_tree, percentiles, ratios, spread,
                                      stage_rows, targets_for)
from trafficpipe.pipeline.metrics import StageStats


def test_percentiles_interpolate_linearly():
    p = percentiles(list(range(1, 101)))
    assert p == pytest.approx({"p50": 50.5, "p95": 95.05, "p99": 99.01})
    assert percentiles([7.0]) == {"p50": 7.0, "p95": 7.0, "p99": 7.0}
    assert percentiles([]) == {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    assert percentiles([0, 10], (25, 90)) == pytest.approx({"p25": 2.5, "p90": 9.0})


def test_stage_stats_summary_per_item_and_per_frame():
    st = StageStats("infer", workers=2)
    for d, n in ((0.010, 4), (0.020, 4), (0.030, 2)):
        st.record(d, n)
    s = st.summary(wall=0.1)
    assert s["items"] == 3 and s["frames"] == 10
    assert s["busy_s"] == pytest.approx(0.06)
    assert s["busy_fraction"] == pytest.approx(0.06 / (0.1 * 2))
    assert s["ms_per_frame"] == pytest.approx(6.0)
    assert s["latency_ms"]["p50"] == pytest.approx(20.0)


CEILINGS = {  # ms per frame (wall) and CPU ms per frame of each stage alone
    "capture": {"ms_per_frame": 2.0, "cpu_ms_per_frame": 2.5},
    "preprocess": {"ms_per_frame": 3.0, "cpu_ms_per_frame": 3.0},
    "infer": {"ms_per_frame": 5.0, "cpu_ms_per_frame": 10.0},
    "postprocess": {"ms_per_frame": 1.0, "cpu_ms_per_frame": 1.0},
    "draw": {"ms_per_frame": 0.5, "cpu_ms_per_frame": 0.5},
    "write": {"ms_per_frame": 2.0, "cpu_ms_per_frame": 2.0},
    # "encode" (= draw + write) is reported, never counted twice
    "encode": {"ms_per_frame": 2.5, "cpu_ms_per_frame": 2.5},
}
WORKERS = {"capture": 1, "preprocess": 2, "infer": 1, "postprocess": 1, "write": 1}


def test_bound_limited_by_cpu_work_on_two_cores():
    b = bound(CEILINGS, WORKERS, 2)
    assert b["cpu_ms_per_frame"] == pytest.approx(19.0)  # 2.5 + 3 + 10 + 1 + 0.5 + 2
    assert b["cpu_term_ms"] == pytest.approx(9.5)
    assert b["slowest_stage"] == "infer" and b["slowest_stage_ms"] == pytest.approx(5.0)
    assert b["ms_per_frame"] == pytest.approx(9.5)
    assert b["fps"] == pytest.approx(1000.0 / 9.5)
    assert b["limited_by"] == "cpu"
    # preprocess runs in 2 threads; postprocess includes drawing (the pipeline draws there)
    assert b["stage_ms"]["preprocess"] == pytest.approx(1.5)
    assert b["stage_ms"]["postprocess"] == pytest.approx(1.5)


def test_bound_limited_by_slowest_stage_with_more_cores():
    b = bound(CEILINGS, WORKERS, 8)
    assert b["ms_per_frame"] == pytest.approx(5.0)
    assert b["fps"] == pytest.approx(200.0)
    assert b["limited_by"] == "infer"
    # with a single preprocess thread and 6 ms of it, preprocess becomes the slowest stage
    slow_pre = dict(CEILINGS, preprocess={"ms_per_frame": 6.0, "cpu_ms_per_frame": 6.0})
    b = bound(slow_pre, dict(WORKERS, preprocess=1), 8)
    assert b["limited_by"] == "preprocess" and b["ms_per_frame"] == pytest.approx(6.0)


def test_bound_without_outputs_has_no_write_term():
    no_out = dict((k, v) for k, v in CEILINGS.items() if k not in ("draw", "write", "encode"))
    b = bound(no_out, WORKERS, 2)
    assert "write" not in b["stage_ms"]
    assert b["cpu_ms_per_frame"] == pytest.approx(16.5)


def test_ratios_and_targets():
    r = ratios(pipeline_fps=150.0, seed_fps=100.0, bound_fps=160.0, decode_fps=450.0)
    assert r == pytest.approx({"pipeline_over_seed": 1.5, "pipeline_over_bound": 0.9375,
                               "pipeline_over_decode": 1.0 / 3.0})
    assert ratios(10.0, 0.0, 0.0, 0.0)["pipeline_over_seed"] == 0.0
    t = check_targets(r, targets_for("onnxruntime"))
    assert t["pipeline_over_seed"]["met"] and t["pipeline_over_bound"]["met"]
    t = check_targets(r, targets_for("torch"))
    assert not t["pipeline_over_seed"]["met"] and not t["pipeline_over_decode"]["met"]
    assert t["pipeline_over_decode"]["target"] == 0.8


def test_spread_of_repeats():
    s = spread([10.0, 12.0, 11.0])
    assert s == pytest.approx({"median": 11.0, "min": 10.0, "max": 12.0, "spread": 2.0 / 11.0, "n": 3})
    assert spread([4.0, 1.0, 2.0, 3.0])["median"] == pytest.approx(2.5)
    assert spread([])["n"] == 0


def test_median_tree_walks_dicts_and_lists():
    runs = [{"fps": 10.0, "n": 3, "name": "a", "rows": [{"p50": 1.0}, {"p50": 5.0}], "flag": True},
            {"fps": 30.0, "n": 5, "name": "b", "rows": [{"p50": 3.0}, {"p50": 7.0}], "flag": False},
            {"fps": 20.0, "n": 4, "name": "c", "rows": [{"p50": 2.0}, {"p50": 6.0}], "flag": False}]
    m = median_tree(runs)
    assert m["fps"] == 20.0 and m["n"] == 4 and isinstance(m["n"], int)
    assert m["rows"] == [{"p50": 2.0}, {"p50": 6.0}]
    assert m["name"] == "a" and m["flag"] is True  # not numbers: the first run's


def _run(pipe, seed, bound_fps):
    return {"pipeline": {"fps": pipe, "latency_ms": {"p50": 10.0, "p99": 20.0}}, "seed": {"fps": seed},
            "bound": {"fps": bound_fps}, "ratios": ratios(pipe, seed, bound_fps, 400.0),
            "ceilings": {"capture": {"fps": 400.0}}, "streams": [{"n": 2, "fps": pipe * 1.5}]}


def test_aggregate_takes_median_of_per_run_ratios():
    # a noisy machine: each repeat's pipeline and seed move together, so the per-run ratio is stable
    runs = [_run(100.0, 50.0, 120.0), _run(160.0, 80.0, 200.0), _run(60.0, 40.0, 70.0)]
    agg = aggregate_runs(runs)
    med, sp = agg["median"], agg["spread"]
    assert med["pipeline"]["fps"] == 100.0 and med["seed"]["fps"] == 50.0
    assert med["ratios"]["pipeline_over_seed"] == pytest.approx(2.0)  # medians of 2.0, 2.0, 1.5
    assert sp["pipeline_fps"] == pytest.approx({"median": 100.0, "min": 60.0, "max": 160.0, "spread": 1.0, "n": 3})
    assert sp["pipeline_over_seed"]["min"] == pytest.approx(1.5)
    assert sp["streams_2_fps"]["median"] == pytest.approx(150.0)
    assert sp["decode_fps"]["spread"] == 0.0


def _summary():
    def q(name, wg, wp, dm, dx, dr):
        return {"name": name, "capacity": 8, "wait_get_s": wg, "wait_put_s": wp, "depth_mean": dm, "depth_max": dx,
                "dropped": dr}

    def st(w, items, frames, busy):
        return {"workers": w, "items": items, "frames": frames, "busy_s": busy, "busy_fraction": busy / (2.0 * w),
                "ms_per_frame": busy * 1000.0 / frames, "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0}}
    return {"wall_s": 2.0,
            "stages": {"capture": st(2, 100, 100, 0.4), "preprocess": st(2, 100, 100, 0.6),
                       "infer": st(2, 50, 100, 1.6), "postprocess": st(1, 50, 100, 0.3), "write": st(1, 100, 100, 0.2)},
            "queues": [q("capture->preprocess", 0.5, 0.1, 3.0, 8, 4),
                       q("preprocess->infer[0]", 0.2, 0.3, 1.0, 2, 0), q("preprocess->infer[1]", 0.1, 0.2, 3.0, 4, 0),
                       q("infer->postprocess", 0.7, 0.05, 2.0, 5, 0),
                       q("postprocess->write[0]", 1.5, 0.0, 1.0, 3, 0)]}


def test_stage_rows_map_queues_to_stages():
    rows = dict((r["stage"], r) for r in stage_rows(_summary()))
    assert list(rows) == ["capture", "preprocess", "infer", "postprocess", "write"]
    cap, pre, inf, post, wr = (rows[k] for k in ("capture", "preprocess", "infer", "postprocess", "write"))
    assert cap["wait_in_s"] == 0.0 and cap["wait_out_s"] == pytest.approx(0.1) and cap["dropped"] == 0
    assert pre["wait_in_s"] == pytest.approx(0.5) and pre["wait_out_s"] == pytest.approx(0.5)  # two infer queues
    assert pre["dropped"] == 4 and pre["queue_depth_max"] == 8 and pre["queue_depth_mean"] == pytest.approx(3.0)
    assert inf["wait_in_s"] == pytest.approx(0.3) and inf["wait_out_s"] == pytest.approx(0.05)
    assert inf["queue_depth_mean"] == pytest.approx(2.0) and inf["queue_depth_max"] == 4
    assert inf["wait_in_fraction"] == pytest.approx(0.3 / (2.0 * 2))
    assert post["wait_in_s"] == pytest.approx(0.7) and wr["wait_in_s"] == pytest.approx(1.5)
    assert wr["wait_out_s"] == 0.0
    assert inf["ms_per_frame"] == pytest.approx(16.0) and inf["frames"] == 100 and inf["items"] == 50


def test_median_bound_comes_from_median_ceilings():
    def run(scale, pipe_fps):
        ceil = dict((k, {"ms_per_frame": v["ms_per_frame"] * scale, "cpu_ms_per_frame": v["cpu_ms_per_frame"] * scale,
                         "fps": 1000.0 / (v["ms_per_frame"] * scale)}) for k, v in CEILINGS.items())
        pipe = {"fps": pipe_fps, "stages": [{"stage": k, "workers": w} for k, w in WORKERS.items()]}
        b = bound(ceil, WORKERS, 2)
        return {"ceilings": ceil, "pipeline": pipe, "bound": b, "seed": {"fps": 50.0},
                "ratios": ratios(pipe_fps, 50.0, b["fps"], ceil["capture"]["fps"])}
    runs = [run(1.0, 100.0), run(2.0, 60.0), run(0.5, 150.0)]
    med = aggregate_runs(runs)["median"]
    assert med["bound"] == bound(med["ceilings"], WORKERS, 2)
    assert med["bound"]["ms_per_frame"] == pytest.approx(9.5)  # the median ceilings are the scale-1 run's
    assert med["ratios"]["pipeline_over_bound"] == pytest.approx(100.0 / (1000.0 / 9.5))


def test_stage_stats_latency_apart_from_busy_time():
    # an asynchronous stage: the thread is busy 1 ms per slot while each slot spends 20 ms in the engine
    st = StageStats("infer")
    for _ in range(4):
        st.record(0.001, 2, latency=0.020)
    s = st.summary(wall=0.1)
    assert s["busy_s"] == pytest.approx(0.004) and s["ms_per_frame"] == pytest.approx(0.5)
    assert s["latency_ms"]["p50"] == pytest.approx(20.0)
