"""The pipeline's own logic on synthetic sources and a stand-in engine (tests/fakes.py): no model, no video, no
../shared. Each frame's detection is the marker square of the frame it was made from, so order and loss show."""
import json
import threading

import pytest

from trafficpipe.pipeline import Pipeline
from trafficpipe.run_config import RunConfig

from fakes import MarkerDetector, SyntheticSource, marker_box


def _lines(path):
    with open(str(path)) as f:
        return [json.loads(line) for line in f]


def _check_every_frame(records, n, width=160, height=96):
    assert [r["frame"] for r in records] == list(range(n))
    for r in records:
        assert r["detections"][0]["box"] == [float(v) for v in marker_box(r["frame"], width, height)]


@pytest.mark.parametrize("batch,pre,post", [(1, 1, 1), (4, 2, 1), (3, 3, 2)])
def test_every_frame_of_every_source_is_written_in_order_with_its_own_detections(tmp_path, batch, pre, post):
    sources = [SyntheticSource("a", 37), SyntheticSource("b", 20), SyntheticSource("c", 5)]
    det = MarkerDetector()
    config = RunConfig.defaults(batch=batch, preprocess_workers=pre, postprocess_workers=post, contexts=2)
    summary = Pipeline(sources, det, config, out_dir=str(tmp_path), outputs=("jsonl",)).run()
    assert summary.frames_out == 62
    for name, n in (("a", 37), ("b", 20), ("c", 5)):
        _check_every_frame(_lines(tmp_path / ("%s.jsonl" % name)), n)
    assert [s["frames_out"] for s in summary.sources] == [37, 20, 5]


def test_a_source_that_fails_mid_way_keeps_its_frames_and_the_others_finish(tmp_path):
    sources = [SyntheticSource("ok", 30), SyntheticSource("bad", 30, fail_at=12, live=True, fps=500.0)]
    summary = Pipeline(sources, MarkerDetector(), RunConfig.defaults(batch=2), out_dir=str(tmp_path),
                       outputs=("jsonl",)).run()
    by_name = dict((s["name"], s) for s in summary.sources)
    assert by_name["ok"]["frames_out"] == 30 and not by_name["ok"]["error"]
    bad = by_name["bad"]
    assert "frame 12" in bad["error"] and bad["frames_in"] == 12
    # a live source drops its oldest frames when the run falls behind (counted); every other one is written
    assert bad["frames_out"] > 0 and bad["frames_out"] + bad["dropped"] == 12
    records = _lines(tmp_path / "bad.jsonl")
    frames = [r["frame"] for r in records]
    assert len(frames) == bad["frames_out"] and frames == sorted(frames) and frames[-1] == 11
    for r in records:
        assert r["detections"][0]["box"] == [float(v) for v in marker_box(r["frame"], 160, 96)]


def test_a_slow_engine_makes_a_live_source_drop_its_oldest_frames_and_count_them(tmp_path):
    live = SyntheticSource("cam", 60, live=True, fps=200.0)
    summary = Pipeline([live], MarkerDetector(delay=0.02), RunConfig.defaults(live_queue_size=2),
                       out_dir=str(tmp_path), outputs=("jsonl",)).run()
    s = summary.sources[0]
    assert s["frames_in"] == 60 and s["dropped"] > 0 and s["frames_out"] + s["dropped"] == 60
    records = _lines(tmp_path / "cam.jsonl")
    frames = [r["frame"] for r in records]
    assert frames == sorted(frames) and len(frames) == s["frames_out"]  # gaps where frames were dropped, never out of order
    for r in records:
        assert r["detections"][0]["box"] == [float(v) for v in marker_box(r["frame"], 160, 96)]


def test_stop_from_another_thread_ends_the_run_with_what_was_written(tmp_path):
    pipe = Pipeline([SyntheticSource("cam", 10 ** 6, live=True, fps=300.0)], MarkerDetector(), out_dir=str(tmp_path),
                    outputs=("jsonl",))
    timer = threading.Timer(0.5, pipe.stop)
    timer.start()
    summary = pipe.run()
    timer.cancel()
    s = summary.sources[0]
    written = s["frames_out"]
    assert 0 < written < 10 ** 6
    assert len(_lines(tmp_path / "cam.jsonl")) == written
    assert s["unwritten"] == 0 and s["frames_in"] == written + s["dropped"]  # what was read went on to the writer


@pytest.mark.parametrize("drain", [True, False])
def test_stop_writes_the_frames_already_read_unless_told_not_to(tmp_path, drain):
    # a slow engine: when the run is stopped, the queues between capture and the writer are full
    pipe = Pipeline([SyntheticSource("clip", 400)], MarkerDetector(delay=0.02), out_dir=str(tmp_path),
                    outputs=("jsonl",), on_frame=lambda f: f.index == 5 and pipe.stop(drain=drain))
    s = pipe.run().sources[0]
    records = _lines(tmp_path / "clip.jsonl")
    _check_every_frame(records, s["frames_out"])  # a whole prefix of the clip, in order
    assert s["frames_out"] < 400 and s["dropped"] == 0  # a file's queues block: nothing is evicted
    if drain:
        assert s["frames_in"] == s["frames_out"] > 6 and s["unwritten"] == 0
    else:
        assert s["unwritten"] > 0 and s["frames_in"] == s["frames_out"] + s["unwritten"]
