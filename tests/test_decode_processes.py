"""`--decode-processes`: video files decoded (and resized to the model's input) in child processes on real clips.

The pipeline must write exactly what the in-process pipeline writes, frame for frame and in order, with rings of
frames (video output) or of model inputs only (jsonl); a damaged stretch, a dying child and Ctrl-C each end as the
in-process pipeline ends (Ctrl-C: tests/test_detect_cli.py); no child process and no ring file is left behind."""
import json
import multiprocessing
import os
import time

import numpy as np
import pytest

from cli_helpers import damaged_copy, ring_files, run_cli
from test_detect_cli import count_frames, one_error_line
from trafficpipe.errors import SourceError
from trafficpipe.pipeline import Pipeline
from trafficpipe.run_config import RunConfig
from trafficpipe.sources.decoders.processes import open_decoders
from trafficpipe.sources.factory import open_source


class _Keep(object):
    def __init__(self, needs_image):
        self.needs_image = needs_image
        self.frames = []

    def write(self, frame):
        self.frames.append((frame.index, np.asarray(frame.detections.boxes).copy(),
                            np.asarray(frame.detections.class_ids).copy()))

    def close(self):
        pass


def _run(detector, uri, processes, needs_image, **kw):
    keep = _Keep(needs_image)
    summary = Pipeline([uri], detector, RunConfig.defaults(batch=2, decode_processes=processes, **kw),
                       sinks=[[keep]]).run()
    return keep.frames, summary


@pytest.fixture(scope="module")
def in_process_360p(picodet320, video_360p):
    """(frame, boxes, classes) of the 360p clip's first 180 frames (keyframes every 60) from the in-process pipeline:
    what runs over decoder processes must give."""
    return _run(picodet320, video_360p, 0, False, max_frames=180)[0]


@pytest.mark.parametrize("needs_image", (False, True), ids=("inputs-ring", "frames-ring"))
def test_detections_equal_the_in_process_pipeline(picodet320, video_360p, in_process_360p, needs_image):
    before = ring_files()
    base = in_process_360p
    got, summary = _run(picodet320, video_360p, 2, needs_image, max_frames=180)
    assert [f[0] for f in got] == [f[0] for f in base] == list(range(180))
    assert sum(len(f[1]) for f in got) > 180
    for (_, b0, c0), (_, b1, c1) in zip(base, got):
        np.testing.assert_array_equal(c0, c1)
        np.testing.assert_allclose(b0, b1, atol=1e-4)
    # 180 frames in 3 keyframe-aligned chunks over 2 children (one takes a second chunk); their model inputs were
    # copied, not resized, here
    assert summary.stages["capture"]["workers"] == 2 and summary.frames_in == 180
    assert multiprocessing.active_children() == []
    assert ring_files() == before


def test_the_run_clock_does_not_wait_for_the_children_to_exit(picodet320, video_360p, monkeypatch):
    """A child's exit (interpreter teardown, unmapping its ring) happens after the last frame, outside the run, as
    their start (opening the file) happens before it."""
    from trafficpipe.sources.decoders.handle import DecodeChild
    close = DecodeChild.close

    def slow_close(child):
        time.sleep(2.0)
        close(child)
    monkeypatch.setattr(DecodeChild, "close", slow_close)
    t0 = time.perf_counter()
    got, summary = _run(picodet320, video_360p, 2, False, max_frames=40)
    elapsed = time.perf_counter() - t0
    assert [f[0] for f in got] == list(range(40))
    # the 2 s of closing are the teardown's, not the run's: run and teardown fit in the call, one after the other
    assert summary.teardown_s >= 2.0 and summary.wall_s + summary.teardown_s <= elapsed
    assert multiprocessing.active_children() == []


class _PinningRuntime(object):
    """Stands in for a GPU runtime's `pin_host` (cuMemHostRegister cannot run without a GPU): records what it pins
    and unpins. The real one runs in tests/gpu/test_gpu_decode_processes.py."""

    def __init__(self):
        self.pinned, self.unpinned = [], []

    def pin_host(self, array):
        self.pinned.append(array)
        return array, lambda: self.unpinned.append(array)


@pytest.mark.parametrize("needs_image", (False, True), ids=("inputs-ring", "frames-ring"))
def test_an_engine_reading_inputs_from_the_rings_gets_every_frame_as_decoded(picodet320, video_360p, in_process_360p,
                                                                            needs_image, monkeypatch):
    """With a GPU engine the rings' model inputs are page-locked and the engine copies each one to the device from
    its ring slot at launch (`slot.host_items`), so a slot may go back to its child only once its batch has run.
    A context that reads host items at launch (as GpuExecutionContext does) over rings of a few slots: every frame
    still has the in-process pipeline's detections; nothing was copied into the slot's own buffer; every ring is
    unpinned at the end."""
    from trafficpipe.engines.onnxruntime_engine import OnnxRuntimeContext
    runtime = _PinningRuntime()
    taken = []

    class ReadsHostItems(OnnxRuntimeContext):
        takes_host_items = True

        def _launch(self, slot):
            for i, (name, arr) in slot.host_items.items():
                assert any(np.shares_memory(arr, r) for r in runtime.pinned)
                slot.host_inputs[name][i][...] = arr
            taken.append(len(slot.host_items))
            super(ReadsHostItems, self)._launch(slot)

    monkeypatch.setattr(ReadsHostItems, "runtime", runtime, raising=False)
    engine = picodet320.engine
    monkeypatch.setattr(engine, "create_context", lambda n, b: ReadsHostItems(engine, n, b))
    base = in_process_360p
    got, summary = _run(picodet320, video_360p, 2, needs_image, queue_size=2, max_frames=180)
    assert [f[0] for f in got] == [f[0] for f in base] == list(range(180))
    for (_, b0, c0), (_, b1, c1) in zip(base, got):
        np.testing.assert_array_equal(c0, c1)
        np.testing.assert_allclose(b0, b1, atol=1e-4)
    assert len(runtime.pinned) == 2 and len(runtime.unpinned) == 2
    assert sum(taken) == 180  # every input read from its ring at launch
    assert multiprocessing.active_children() == []


def test_frames_held_for_reordering_are_formatted_ahead_and_written_as_in_order(picodet320, video_360p, tmp_path,
                                                                               monkeypatch):
    """The children's later chunks reach the writer before the first chunk's frames: the writer holds them and the
    jsonl sink formats them meanwhile (`prepare`), so that they are written quickly once their turn comes (on the H200
    200 frames took 17 ms to format after the last frame of the first chunk). The file is that of an in-order run."""
    from trafficpipe.sinks.files import JsonlSink
    prepared = []
    prepare = JsonlSink.prepare

    def counting(sink, frame):
        prepared.append(frame.index)
        prepare(sink, frame)
    monkeypatch.setattr(JsonlSink, "prepare", counting)
    for name, n in (("in-order", 0), ("chunks", 3)):
        Pipeline([video_360p], picodet320, RunConfig.defaults(batch=2, decode_processes=n, max_frames=180),
                 out_dir=str(tmp_path / name), outputs=["jsonl"]).run()
        if n == 0:
            assert prepared == []
    a = (tmp_path / "in-order" / "highway-360p.jsonl").read_text()
    b = (tmp_path / "chunks" / "highway-360p.jsonl").read_text()
    assert len(a.splitlines()) == 180 and a == b
    assert len(prepared) >= 50 and len(set(prepared)) == len(prepared)


def test_a_reader_starting_inside_a_keyframe_group_gives_the_frames_of_a_sequential_read(video_720p):
    """The 720p clip has keyframes at 0 and 250 only: a piece starting at frame 100 is decoded from frame 0, the
    frames before 100 decoded only, and gives frames 100.. exactly as reading from the start does."""
    from trafficpipe.sources.segments import ChunkReader
    seq = ChunkReader(video_720p, 0, 110)
    want = [seq.read() for _ in range(110)][100:]
    seq.close()
    piece = ChunkReader(video_720p, 100, 110, key=0)
    got = [piece.read() for _ in range(11)]
    piece.close()
    assert got[-1] is None and piece.next == 110
    for a, b in zip(want, got[:10]):
        np.testing.assert_array_equal(a, b)


def test_more_decoders_than_keyframe_groups_split_the_groups(picodet320, video_720p):
    """200 frames of one keyframe group over 3 decoder processes: pieces 0-71, 72-119 and 120-199, the later two
    decoded from frame 0; the pipeline writes the in-process detections for every frame, in order."""
    base, _ = _run(picodet320, video_720p, 0, False, max_frames=200)
    keep = _Keep(False)
    pipe = Pipeline([video_720p], picodet320, RunConfig.defaults(batch=2, decode_processes=3, max_frames=200),
                    sinks=[[keep]])
    plan = []
    pipe.on_start = lambda: plan.extend(pipe.stages[0].feeds[0].decoders.chunks)
    summary = pipe.run()
    assert plan == [(0, 72), (72, 120), (120, 200)] and summary.stages["capture"]["workers"] == 3
    assert [f[0] for f in keep.frames] == [f[0] for f in base] == list(range(200))
    assert sum(len(f[1]) for f in keep.frames) > 200
    for (_, b0, c0), (_, b1, c1) in zip(base, keep.frames):
        np.testing.assert_array_equal(c0, c1)
        np.testing.assert_allclose(b0, b1, atol=1e-4)
    assert multiprocessing.active_children() == []


def test_max_frames_and_one_process(picodet320, video_360p):
    got, summary = _run(picodet320, video_360p, 1, False, max_frames=75)
    assert [f[0] for f in got] == list(range(75)) and summary.frames_in == 75


def test_video_output_plays_with_every_frame(video_360p, tmp_path):
    p = run_cli("detect", video_360p, "--out", tmp_path, "--model", "picodet-s-320", "--decode-processes", "2",
                "--max-frames", "130", "--save", "video,jsonl", "--no-progress")
    assert p.returncode == 0, p.stderr
    frames = [json.loads(l)["frame"] for l in (tmp_path / "highway-360p.jsonl").read_text().splitlines()]
    assert frames == list(range(130))
    n, _, _ = count_frames(str(tmp_path / "highway-360p.mp4"))
    assert n == 130


def test_damage_in_the_middle(video_360p, tmp_path):
    """As with in-process decoders: the undamaged chunks are written, the stretch is named, exit 3."""
    bad = damaged_copy(video_360p, tmp_path, "mid.mp4", start=0.5, end=0.6)
    p = run_cli("detect", bad, "--out", tmp_path / "out", "--model", "picodet-s-320", "--decode-processes", "3",
                "--no-progress", timeout=120)
    assert p.returncode == 3, p.stderr
    assert "197 of 341 frames decoded; unreadable: frames 156-299" in one_error_line(p)
    frames = [json.loads(l)["frame"] for l in (tmp_path / "out" / "mid.jsonl").read_text().splitlines()]
    assert frames == sorted(frames) and frames[0] == 0 and frames[-1] == 340 and len(frames) == 197
    n, _, _ = count_frames(str(tmp_path / "out" / "mid.mp4"))
    assert n == len(frames)


def test_a_dying_child_is_one_clear_error(video_720p):
    before = ring_files()
    src = open_source(video_720p)
    procs = open_decoders(src, 1, ring_slots=4)
    try:
        assert ring_files() == before  # the ring file is unlinked once both processes have mapped it
        procs.start()
        child = procs.children[0]
        got = child.read(None)
        assert got and got[0][1] == 0
        child.process.kill()
        with pytest.raises(SourceError, match="decoder process of .*highway-720p.mp4 died"):
            for _ in range(100):  # the few slots already announced may come first
                for slot, _ in child.read(None):
                    child.give_back(slot)
                child.flush(force=True)
    finally:
        procs.close()
        src.close()
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("args, words", [
    (["--decode-processes", "-1"], "argument --decode-processes: must be 0 or more"),  # (at parse time)
    (["--decode-processes", "2", "--decoder", "nvdec"], "does not combine with --decoder nvdec"),
])
def test_bad_combinations_fail_in_one_line(video_360p, tmp_path, args, words):
    p = run_cli("detect", video_360p, "--out", tmp_path, *args)
    assert p.returncode == 2
    lines = [l for l in p.stderr.splitlines() if l.startswith(("trafficpipe: error:", "trafficpipe detect: error:"))]
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in p.stderr, p.stderr


def test_bench_measures_the_decoders_on_their_own(tmp_path):
    from trafficpipe.cli import main
    from trafficpipe.paths import data_dir
    out = tmp_path / "r.json"
    video = os.path.join(data_dir(), "videos", "highway-360p.mp4")
    assert main(["bench", video, "--model", "picodet-s-320", "--frames", "90", "--repeat", "1", "--warmup", "1",
                 "--output", "jsonl", "--decode-processes", "2", "--json", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert "--decode-processes 2" in rep["command"] and rep["config"]["decode_processes"] == 2
    run = rep["runs"][0]
    dp = run["ceilings"]["capture_processes"]
    assert dp["frames"] == 90 and dp["processes"] == 2 and dp["preprocessed"] is True and dp["errors"] == []
    assert run["pipeline"]["frames"] == 90
    assert run["ratios"]["pipeline_over_decode_processes"] == pytest.approx(run["pipeline"]["fps"] / dp["fps"])
