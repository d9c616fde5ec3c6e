"""The threaded pipeline on real videos: frames in = frames out, order, end of stream, errors, Ctrl-C."""
import json
import os
import threading
import time

import cv2
import numpy as np
import pytest

from cli_helpers import read_frames
from trafficpipe import Detector, Pipeline, RunConfig
from trafficpipe.sinks.base import Sink


class Collect(Sink):
    def __init__(self):
        self.frames = []

    def write(self, frame):
        self.frames.append((frame.index, frame.seq, frame.detections))


def test_every_frame_in_order_with_batches_and_workers(picodet320, video_360p):
    sink = Collect()
    p = Pipeline([video_360p], picodet320, RunConfig.defaults(batch=4, preprocess_workers=3, postprocess_workers=2,
                                                              queue_size=4, max_frames=60), sinks=[[sink]])
    s = p.run()
    assert s.frames_in == s.frames_out == 60 and s.dropped == 0
    assert [i for i, _, _ in sink.frames] == list(range(60))
    assert [q for _, q, _ in sink.frames] == list(range(60))
    # the threaded, batched pipeline finds exactly what a plain one-image-at-a-time call finds
    for (i, _, det), img in zip(sink.frames[:8], read_frames(video_360p, 8)):
        ref = picodet320.detect(img)
        assert len(det) == len(ref)
        np.testing.assert_allclose(det.boxes, ref.boxes, atol=1e-3)
    assert set(s.stages) == {"capture", "preprocess", "infer", "postprocess", "write"}
    assert s.stages["infer"]["frames"] == 60
    assert not [t for t in threading.enumerate() if t.name.split("-")[0] in s.stages]


def test_two_sources_keep_their_own_order(picodet320, video_360p, shared):
    a, b = Collect(), Collect()
    street = os.path.join(shared, "videos", "street-540p.mp4")
    s = Pipeline([video_360p, street], picodet320, RunConfig.defaults(batch=2, contexts=2, max_frames=25),
                 sinks=[[a], [b]]).run()
    assert [i for i, _, _ in a.frames] == list(range(25)) == [i for i, _, _ in b.frames]
    assert [src["frames_out"] for src in s.sources] == [25, 25]


class SlowClose(Collect):
    def close(self):
        time.sleep(0.5)  # finishing an output (a video file's trailer) is part of the run


def test_the_run_clock_stops_when_outputs_are_closed_not_after_releasing_contexts(video_360p):
    det = Detector("picodet-s-320", threads=1)
    make = det.engine.create_context

    def slow_to_release(*args):
        ctx = make(*args)
        close = ctx.close

        def slow_close():
            time.sleep(1.0)  # as freeing pinned memory and CUDA graphs takes, outside the run (as building them is)
            close()
        ctx.close = slow_close
        return ctx

    det.engine.create_context = slow_to_release
    sink = SlowClose()
    t0 = time.perf_counter()
    s = Pipeline([video_360p], det, RunConfig.defaults(max_frames=20), sinks=[[sink]]).run()
    total = time.perf_counter() - t0
    assert [i for i, _, _ in sink.frames] == list(range(20))
    assert s.wall_s >= 0.5  # the sink's close counted
    assert s.teardown_s >= 1.0 and s.wall_s <= total - 1.0  # the context's release not counted
    assert s.fps == pytest.approx(20 / s.wall_s)
    det.close()


def test_postprocess_workers_end_with_the_last_source_not_a_poll_later(picodet320):
    from trafficpipe.pipeline.control import Control
    from trafficpipe.pipeline.frame import EndOfStream
    from trafficpipe.pipeline.queues import StageQueue
    from trafficpipe.stages.postprocess import PostprocessStage
    ctl = Control()
    in_q, out_q = StageQueue(8, ctl.stop), StageQueue(8, ctl.stop)
    stage = PostprocessStage(ctl, in_q, [out_q], picodet320.adapter, picodet320.output_names, 2, workers=3,
                             poll=60.0)  # a worker still waiting out its poll would hold the run for a minute
    stage.start()
    t0 = time.perf_counter()
    in_q.put(EndOfStream(0))
    in_q.put(EndOfStream(1))
    for t in stage.threads:
        t.join(10.0)
    assert not [t for t in stage.threads if t.is_alive()] and time.perf_counter() - t0 < 10.0
    assert [out_q.get(timeout=0).source_id for _ in range(2)] == [0, 1] and ctl.error is None


class Boom(Exception):
    pass


def test_first_stage_error_stops_everything_and_is_raised_once(video_360p):
    det = Detector("picodet-s-320", threads=1)
    real = det.adapter.postprocess
    calls = []

    def failing(outputs, meta):
        calls.append(1)
        if len(calls) == 5:
            raise Boom("decoder broke")
        return real(outputs, meta)

    det.adapter.postprocess = failing
    p = Pipeline([video_360p], det, sinks=[[Collect()]])
    t0 = time.time()
    with pytest.raises(Boom, match="decoder broke") as info:
        p.run()
    assert time.time() - t0 < 20
    assert info.value.__traceback__ is not None
    assert p.summary.frames_out < 341
    assert not [t for t in threading.enumerate() if t.name.startswith(("capture", "preprocess", "infer", "post", "write"))]
    det.close()


def test_a_run_failing_before_its_first_frame_leaves_no_empty_outputs(video_360p, tmp_path):
    """An error before any frame of a source is written (here the first postprocess) leaves no empty JSON lines or
    video behind, and an earlier run's file of the same name as it was."""
    det = Detector("picodet-s-320", threads=1)

    def failing(outputs, meta):
        raise Boom("postprocess broke")
    det.adapter.postprocess = failing
    fresh, rerun = tmp_path / "fresh", tmp_path / "rerun"
    rerun.mkdir()
    (rerun / "highway-360p.jsonl").write_text("earlier\n")
    for out in (fresh, rerun):
        with pytest.raises(Boom):
            Pipeline([video_360p], det, out_dir=str(out), outputs=("video", "jsonl", "txt")).run()
    assert os.listdir(str(fresh)) == []
    assert os.listdir(str(rerun)) == ["highway-360p.jsonl"]
    assert (rerun / "highway-360p.jsonl").read_text() == "earlier\n"
    det.close()


def test_ctrl_c_leaves_a_playable_video(picodet320, video_360p, tmp_path):
    import _thread
    p = Pipeline([video_360p], picodet320, out_dir=str(tmp_path), on_frame=lambda f: f.index == 20 and
                 threading.Timer(0.0, _thread.interrupt_main).start())
    with pytest.raises(KeyboardInterrupt):
        p.run()
    written = p.summary.frames_out
    assert p.summary.interrupted and 20 < written < 341
    cap = cv2.VideoCapture(str(tmp_path / "highway-360p.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == written
    lines = (tmp_path / "highway-360p.jsonl").read_text().splitlines()
    assert len(lines) == written and json.loads(lines[-1])["frame"] == written - 1


def test_ctrl_c_while_the_stages_start_is_an_interrupt_not_a_join_error(picodet320, video_360p, monkeypatch):
    """A Ctrl-C that lands between two worker threads' start() leaves the later ones never started: the run ends as
    interrupted, not with "cannot join thread before it is started"."""
    from trafficpipe.pipeline import control
    real_start = threading.Thread.start
    started = []

    class Interrupting(threading.Thread):
        def start(self):
            if self.name.startswith("preprocess") and started:
                raise KeyboardInterrupt
            started.append(self.name) if self.name.startswith("preprocess") else None
            real_start(self)

    monkeypatch.setattr(control.threading, "Thread", Interrupting)
    p = Pipeline([video_360p], picodet320, RunConfig.defaults(preprocess_workers=3), sinks=[[Collect()]])
    with pytest.raises(KeyboardInterrupt):
        p.run()
    monkeypatch.undo()
    assert p.summary.interrupted and started == ["preprocess-0"]
    assert not [t for t in threading.enumerate() if t.name.startswith(("capture", "preprocess", "infer", "post", "write"))]


def test_kitti_vehicle_recall(picodet416, dev_set):
    """The default model finds the labeled non-difficult KITTI vehicles (reference decoder: 0.90)."""
    from trafficpipe.models.nms import box_iou
    ann = json.load(open(os.path.join(dev_set, "annotations.json")))
    images = [r for r in ann["images"] if r["source"] == "kitti"]
    hit = total = 0
    for r in images:
        gt = np.array([b["xyxy"] for b in r["boxes"] if b["cls"] == "vehicle" and not b["difficult"]]).reshape(-1, 4)
        det = picodet416.detect(cv2.imread(os.path.join(dev_set, r["image"])))
        pred = det.boxes[det.class_ids == 0]
        total += len(gt)
        if len(gt) and len(pred):
            hit += int((box_iou(gt, pred).max(1) >= 0.5).sum())
    assert total == 105
    assert hit / float(total) >= 0.8


def test_parallel_decode_keeps_every_frame_in_order(picodet320, shared):
    """Keyframe-aligned chunks decoded by 3 readers at once: the same frames, in order, as one reader."""
    street = os.path.join(shared, "videos", "street-540p.mp4")
    seen = Collect()
    s = Pipeline([street], picodet320, RunConfig.defaults(decode_workers=3, batch=2, preprocess_workers=2),
                 sinks=[[seen]]).run()
    assert s.frames_in == s.frames_out == 368
    assert [i for i, _, _ in seen.frames] == list(range(368))
    assert s.stages["capture"]["workers"] == 3
    ref = picodet320.detect(read_frames(street, 91)[90])  # the first frame of the second chunk
    np.testing.assert_allclose(seen.frames[90][2].boxes, ref.boxes, atol=1e-3)


def test_keyframe_chunks_of_the_shared_videos(shared):
    from trafficpipe.sources.segments import mp4_keyframes, plan_chunks
    assert mp4_keyframes(os.path.join(shared, "videos", "highway-720p.mp4")) == [0, 250]
    assert plan_chunks([0, 60, 120, 180, 240, 300], 341) == [(0, 60), (60, 120), (120, 180), (180, 240), (240, 300),
                                                             (300, 341)]
    assert plan_chunks([0, 10, 20, 100], 120, min_len=60) == [(0, 120)]  # short tail merged
    assert mp4_keyframes(os.path.join(shared, "README.md")) is None


def test_decoded_frame_buffers_are_recycled(picodet320, video_360p):
    """The writer hands every written image back to its source's pool and capture decodes into those buffers, so the
    number of image buffers ever made stays at the frames in flight, not the frames decoded."""
    seen = set()

    class Buffers(Sink):
        def write(self, frame):
            seen.add(frame.image.__array_interface__["data"][0])

    p = Pipeline([video_360p], picodet320, RunConfig.defaults(max_frames=120, queue_size=4), sinks=[[Buffers()]])
    p.run()
    pool = p.stages[0].feeds[0].pool
    assert 0 < len(pool) <= 40
    assert len(seen) <= 40  # 120 frames through at most a few dozen buffers


def test_frame_pool_gives_back_only_matching_buffers():
    from trafficpipe.sources.framepool import FramePool
    pool = FramePool(limit=2)
    a, b, c = np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)
    for img in (a, b, c):
        pool.put(img)
    assert len(pool) == 2  # the limit
    assert pool.get((4, 4, 3)) is b and pool.get((8, 8, 3)) is None and pool.get((4, 4, 3)) is None


def test_files_fill_whole_batches(picodet320, video_360p):
    """With files alone a slot is sealed only when full (or at the end): 61 frames at batch 4 = 16 inference calls,
    the last one of a single frame — even when decoding is the slow stage and the queue before preprocess is empty
    at every frame."""
    from trafficpipe.sources.video import VideoFileSource

    class SlowFile(VideoFileSource):
        def read(self, buf=None):
            time.sleep(0.01)
            return super(SlowFile, self).read(buf)

    src = SlowFile(video_360p)
    src.open()
    sink = Collect()
    s = Pipeline([src], picodet320, RunConfig.defaults(batch=4, preprocess_workers=2, max_frames=61),
                 sinks=[[sink]]).run()
    assert s.frames_out == 61 and [i for i, _, _ in sink.frames] == list(range(61))
    assert s.stages["infer"]["items"] == 16


def test_decoder_thread_count_changes_no_pixel(video_360p, monkeypatch):
    from trafficpipe.sources import video
    ref = read_frames(video_360p, 40)
    try:
        video.set_decode_threads(3)
        assert video.decode_threads() == 3
        src = video.VideoFileSource(video_360p)
        src.open()
        got = [src.read()[0] for _ in range(40)]
        src.close()
    finally:
        video.set_decode_threads(0)
    assert all(np.array_equal(a, b) for a, b in zip(ref, got))
    assert video.decode_threads() == 0  # the default: FFmpeg's choice
    monkeypatch.setattr(video, "_decode_threads", [video.AUTO])
    monkeypatch.setattr(video, "cores_available", lambda: 16.0)
    assert video.decode_threads() == 8  # auto: half of a big machine's cores
    monkeypatch.setattr(video, "cores_available", lambda: 4.0)
    assert video.decode_threads() == 0  # auto: FFmpeg's own choice on small machines


def test_pipeline_arguments_and_a_second_run_are_one_line_errors(video_360p, tmp_path):
    """No source, a None source: TrafficpipeError at once; a pathlib.Path opens as its string does; a second run()
    of the same Pipeline (its sources read) is refused instead of writing nothing."""
    import pathlib
    from trafficpipe.errors import TrafficpipeError
    with Detector("picodet-s-320", threads=1) as det:
        for sources, message in (([], "needs at least one source"), ([None], "a URI, a path or an opened Source")):
            with pytest.raises(TrafficpipeError, match=message):
                Pipeline(sources, det)
        pipe = Pipeline([pathlib.Path(str(video_360p))], det, RunConfig.defaults(max_frames=3), out_dir=str(tmp_path),
                        outputs=("jsonl",))
        assert pipe.run().frames_out == 3
        with pytest.raises(TrafficpipeError, match="this Pipeline has run"):
            pipe.run()
