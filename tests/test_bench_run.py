"""A short real `trafficpipe bench` run on a shared video: every JSON field, consistent counts, equal work, the plot."""
import json
import os

import pytest

from trafficpipe.cli import main
from trafficpipe.paths import data_dir

VIDEO = os.path.join(data_dir(), "videos", "highway-360p.mp4")
FRAMES = 24

pytestmark = pytest.mark.skipif(not os.path.isfile(VIDEO), reason="shared video %s missing" % VIDEO)

STAGE_ROW_KEYS = {"stage", "workers", "items", "frames", "latency_ms", "ms_per_frame", "busy_fraction", "wait_in_s",
                  "wait_out_s", "wait_in_fraction", "wait_out_fraction", "queue_depth_mean", "queue_depth_max",
                  "dropped", "thread_cpu_ms_per_frame"}
CEILING_KEYS = {"fps", "ms_per_frame", "cpu_ms_per_frame", "latency_ms", "frames", "items", "busy_s", "cpu_s"}


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    out = d / "report.json"
    keep = d / "outputs"
    rc = main(["bench", VIDEO, "--model", "yolox-nano", "--frames", str(FRAMES), "--repeat", "2", "--warmup", "2",
               "--streams", "1,2", "--output", "jsonl", "--out", str(keep), "--json", str(out)])
    assert rc == 0
    with open(str(out)) as f:
        return json.load(f), keep


def _lat(d):
    assert set(d) == {"p50", "p95", "p99"}
    assert 0 <= d["p50"] <= d["p95"] <= d["p99"]


def test_report_has_every_field(bench):
    rep, _ = bench
    for key in ("schema", "created", "command", "config", "machine", "detector", "load_avg", "runs", "median",
                "spread", "targets", "timeline"):
        assert key in rep, key
    assert rep["command"].startswith("trafficpipe bench %s --model yolox-nano --engine onnxruntime" % VIDEO)
    m = rep["machine"]
    assert m["cpu_model"] and m["cpu_count"] >= 1 and m["cores_available"] >= 1
    assert m["gpu"] is None  # a CPU engine never asks torch or pycuda
    assert {"python", "numpy", "opencv", "onnxruntime", "trafficpipe"} <= set(m["libraries"])
    assert rep["detector"]["engine"] == "onnxruntime" and rep["detector"]["precision"] == "fp32"
    # the seed loop runs at ONNX Runtime's own defaults (every core for one run, spinning), the pipeline tuned
    cores = int(m["cores_available"])
    assert rep["seed_detector"]["concurrency"] == 1 and rep["seed_detector"]["spinning"] is True
    assert rep["seed_detector"]["threads"] == cores
    assert rep["detector"]["concurrency"] == min(2, cores) and rep["detector"]["spinning"] is False
    assert "--seed-engine defaults" in rep["command"]
    assert len(rep["load_avg"]["start"]) == 3 and len(rep["runs"]) == 2
    assert set(rep["targets"]) == {"pipeline_over_seed", "pipeline_over_bound"}
    for t in rep["targets"].values():
        assert set(t) == {"target", "value", "met"}
    for name in ("seed_fps", "pipeline_fps", "bound_fps", "pipeline_over_seed", "pipeline_over_bound",
                 "latency_p50_ms", "latency_p99_ms", "decode_fps", "infer_fps", "encode_fps", "streams_2_fps"):
        s = rep["spread"][name]
        assert s["n"] == 2 and s["min"] <= s["median"] <= s["max"], name

    for run in rep["runs"] + [rep["median"]]:
        assert run["frames"] == FRAMES
        assert len(run["load_avg"]) == 3
        c = run["ceilings"]
        assert c["frames"] == FRAMES
        for stage in ("capture", "preprocess", "infer", "postprocess", "write", "encode"):
            assert CEILING_KEYS <= set(c[stage]), stage
            assert c[stage]["fps"] > 0
            _lat(c[stage]["latency_ms"])
        assert c["capture"]["frames"] == c["infer"]["frames"] == FRAMES
        assert "draw" not in c  # jsonl output: nothing drawn, in the ceilings as in the runs

        seed = run["seed"]
        assert seed["frames"] == FRAMES and seed["fps"] > 0 and seed["cpu_ms_per_frame"] > 0
        assert set(seed["stages"]) == {"capture", "preprocess", "infer", "postprocess", "write"}
        _lat(seed["latency_ms"])

        p = run["pipeline"]
        assert p["frames"] == p["frames_in"] == FRAMES and p["dropped"] == 0 and p["fps"] > 0
        _lat(p["latency_ms"])
        assert [r["stage"] for r in p["stages"]] == ["capture", "preprocess", "infer", "postprocess", "write"]
        for r in p["stages"]:
            assert set(r) == STAGE_ROW_KEYS
            _lat(r["latency_ms"])
            assert r["frames"] == FRAMES and 0 <= r["busy_fraction"] <= 1.0 + 1e-9
            assert r["wait_in_s"] >= 0 and r["wait_out_s"] >= 0 and r["dropped"] == 0
            # a thread's own CPU time fits in its wall time (Python 3.7+ measures it)
            assert r["thread_cpu_ms_per_frame"] is not None and r["thread_cpu_ms_per_frame"] >= 0
            assert r["thread_cpu_ms_per_frame"] * r["frames"] / 1000.0 <= p["wall_s"] * r["workers"] + 0.05
        assert p["stages"][0]["queue_depth_max"] == 0  # capture has no input queue
        assert 1 <= p["stages"][1]["queue_depth_max"] <= 8  # capture->preprocess is bounded at --queue-size

        b = run["bound"]
        assert b["fps"] > 0 and b["cores"] == m["cores_available"]
        if run is not rep["median"]:  # medians of per-run ratios are not ratios of medians
            assert b["ms_per_frame"] == pytest.approx(max(b["slowest_stage_ms"], b["cpu_term_ms"]))
            r = run["ratios"]
            assert r["pipeline_over_seed"] == pytest.approx(p["fps"] / seed["fps"])
            assert r["pipeline_over_bound"] == pytest.approx(p["fps"] / b["fps"])

        assert [s["n"] for s in run["streams"]] == [1, 2]
        for s in run["streams"]:
            assert s["frames"] == FRAMES * s["n"] and len(s["sources"]) == s["n"]
            for src in s["sources"]:
                assert src["frames"] == FRAMES
                _lat(src["latency_ms"])
            assert s["fps_per_source"] == pytest.approx(s["fps"] / s["n"])
            dec = s["decode_together"]
            assert dec["n"] == s["n"] and dec["frames"] == FRAMES * s["n"] and dec["processes"] is False
            assert dec["fps"] > 0
            if run is not rep["median"]:
                assert s["pipeline_over_decode"] == pytest.approx(s["fps"] / dec["fps"])
        assert run["streams"][0]["scaling"] == pytest.approx(1.0)
        assert run["streams"][1]["bound"]["stage_ms"]["capture"] == pytest.approx(
            run["streams"][0]["bound"]["stage_ms"]["capture"] / 2)  # one capture thread per source


def test_timeline_follows_frames_through_the_stages_in_order(bench):
    rep, _ = bench
    tl = rep["timeline"]
    assert len(tl) == 24
    assert [f["frame"] for f in tl] == list(range(tl[0]["frame"], tl[0]["frame"] + 24))
    for f in tl:
        spans = f["stages"]
        assert list(spans) == ["capture", "preprocess", "infer", "postprocess", "write"]
        prev_end = None
        for a, b in spans.values():
            assert a <= b
            if prev_end is not None:
                assert a >= prev_end - 1e-3  # a stage starts after the previous one ended (ms, rounded)
            prev_end = b


def test_seed_loop_and_pipeline_do_the_same_work(bench):
    """The comparison is fair: both write the same detections for the same frames."""
    _, keep = bench
    seed = (keep / "seed" / "highway-360p.jsonl").read_text().splitlines()
    pipe = (keep / "pipeline" / "highway-360p.jsonl").read_text().splitlines()
    assert len(seed) == len(pipe) == FRAMES
    assert [json.loads(x) for x in seed] == [json.loads(x) for x in pipe]
    assert sum(len(json.loads(x)["detections"]) for x in seed) > 0


def test_plot_png(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "bench.png"
    rc = main(["bench", VIDEO, "--model", "picodet-s-416", "--frames", "12", "--repeat", "1", "--warmup", "1",
               "--plot", str(png)])
    assert rc == 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10000


def test_stream_processes_run_one_process_per_source(tmp_path):
    """--stream-processes: N processes start together, each its own detector and one-source pipeline; every frame of
    every process is counted once in the aggregate."""
    out = tmp_path / "p.json"
    assert main(["bench", VIDEO, "--model", "picodet-s-320", "--frames", "20", "--repeat", "1", "--output", "jsonl",
                 "--streams", "1,2", "--stream-processes", "--threads", "1", "--warmup", "1", "--json", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert rep["config"]["stream_processes"] is True and "--stream-processes" in rep["command"]
    one, two = rep["runs"][0]["streams"]
    assert (one["processes"], two["processes"]) == (1, 2)
    assert (one["frames"], two["frames"]) == (20, 40)
    assert [s["frames"] for s in two["sources"]] == [20, 20]
    assert two["fps"] == pytest.approx(40 / two["wall_s"])
    assert two["start_skew_s"] < two["wall_s"]  # they started together (after loading), not one after the other
    # decoding's limit for two sources: two decoder processes at once, every frame counted
    assert two["decode_together"]["processes"] is True and two["decode_together"]["frames"] == 40
    assert two["pipeline_over_decode"] == pytest.approx(two["fps"] / two["decode_together"]["fps"])
    # the bound counts every process's capture thread, in each run and in the medians
    for a, b in ((one, two), tuple(rep["median"]["streams"])):
        assert b["bound"]["stage_ms"]["capture"] == pytest.approx(a["bound"]["stage_ms"]["capture"] / 2)


def test_bad_options_fail_in_one_line(capsys):
    assert main(["bench", VIDEO, "--streams", "1,x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--streams" in err[0]
    assert main(["bench", "/nonexistent/clip.mp4", "--frames", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]
