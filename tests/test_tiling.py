"""Tiled inference (`--tiles auto`): the tile geometry, the merge, and what it does on the real KITTI frames of
traffic-dev with the default model (through the Pipeline and the CLI)."""
import json
import os

import numpy as np
import pytest

from cli_helpers import run_cli
from trafficpipe.models.detections import Detections
from trafficpipe.models.tiling import TilePlan, merge_tiles


def test_wide_frames_get_overlapping_tiles_of_the_models_shape():
    plan = TilePlan()  # ratio 2, overlap 0.35
    crops = plan.crops(1242, 375, 416, 416)  # KITTI
    assert crops[0] == (0, 0, 1242, 375)  # the whole frame first
    tiles = crops[1:]
    assert len(tiles) == 5
    assert tiles[0][0] == 0 and tiles[-1][2] == 1242 and all(t[1] == 0 and t[3] == 375 for t in tiles)
    widths = [t[2] - t[0] for t in tiles]
    assert max(widths) - min(widths) <= 1 and abs(widths[0] - 375) < 0.1 * 375  # about square, like the model
    for a, b in zip(tiles, tiles[1:]):
        assert b[0] < a[2]  # neighbours overlap ...
        assert (a[2] - b[0]) == pytest.approx(0.35 * widths[0], abs=2)  # ... by about a third of a tile
    assert plan.crops(1280, 720, 416, 416) == [(0, 0, 1280, 720)]  # 16:9 video stays whole
    tall = plan.crops(375, 1242, 416, 416)
    assert len(tall) == 6 and all(t[0] == 0 and t[2] == 375 for t in tall[1:]) and tall[-1][3] == 1242
    assert len(TilePlan(max_tiles=8).crops(6000, 300, 416, 416)) == 9  # capped
    assert len(TilePlan(min_ratio=4).crops(1242, 375, 416, 416)) == 1


def test_bad_tile_settings_are_refused():
    with pytest.raises(ValueError):
        TilePlan(overlap=0.95)
    with pytest.raises(ValueError):
        TilePlan(min_ratio=1.0)


def test_merge_drops_boxes_cut_by_an_inner_edge_and_keeps_one_of_duplicates():
    crops = [(0, 0, 1000, 300), (0, 0, 400, 300), (300, 0, 700, 300)]
    whole = Detections(np.array([[350, 10, 390, 100]], np.float32), np.array([0.6], np.float32),
                       np.array([1], np.int32))
    left = Detections(np.array([[350, 12, 391, 101],  # the same pedestrian, seen better in the tile
                                [360, 50, 399, 120]], np.float32),  # cut by the tile's right edge (x 400)
                      np.array([0.9, 0.8], np.float32), np.array([1, 0], np.int32))
    right = Detections(np.array([[10, 50, 150, 120]], np.float32), np.array([0.7], np.float32),
                       np.array([0], np.int32))  # x 310..450 in the frame: whole in this tile
    d = merge_tiles([whole, left, right], crops, 1000, 300, iou=0.45)
    got = sorted(zip(d.class_ids.tolist(), d.scores.tolist(), d.boxes[:, 0].tolist()))
    assert [(c, x) for c, _, x in got] == [(0, 310.0), (1, 350.0)]
    assert [s for _, s, _ in got] == pytest.approx([0.7, 0.9])


@pytest.fixture(scope="module")
def kitti_dev(dev_set):
    from trafficpipe.eval.dataset import load_dataset
    return load_dataset(dev_set).subset(source="kitti")


def test_tiles_find_the_pedestrians_that_squashed_frames_miss(kitti_dev):
    """On the 11 KITTI frames of traffic-dev (1242x375) that hold pedestrians, with the default model: pedestrian AP50
    rises by at least 0.1 with tiles, to the 0.85 target (measured there: 0.677 -> 0.941; on all 51 frames, as
    `trafficpipe eval` reports it: 0.590 -> 0.881) and vehicles lose nothing; every frame is scored once."""
    from trafficpipe import Detector
    from trafficpipe.eval.runner import evaluate
    ped = kitti_dev.classes.index("pedestrian")
    sub = kitti_dev.subset(indices=[i for i, im in enumerate(kitti_dev.images) if (im.class_ids == ped).any()])
    det = Detector(conf=0.001, threads=2)
    try:
        plain = evaluate(sub, det)
        tiled = evaluate(sub, det, tiles=TilePlan())
    finally:
        det.close()
    assert len(tiled.detections) == len(sub) == 11
    assert tiled.run["tiles"] == {"min_ratio": 2.0, "overlap": 0.35, "max_tiles": 8}
    assert tiled.ap50("pedestrian") >= plain.ap50("pedestrian") + 0.1
    assert tiled.ap50("pedestrian") >= 0.85
    assert tiled.ap50("vehicle") >= plain.ap50("vehicle") - 0.01


def test_detector_detect_tiles_as_the_pipeline_does(kitti_dev):
    """`Detector.detect(image, tiles=plan)` gives the pipeline's tiled detections for the same frame."""
    import cv2
    from trafficpipe import Detector
    from trafficpipe.eval.runner import detect_dataset
    sub = kitti_dev.subset(limit=3)
    det = Detector(threads=2)
    try:
        piped, _ = detect_dataset(sub, det, tiles=TilePlan())
        for im, ref in zip(sub.images, piped):
            got = det.detect(cv2.imread(im.path), tiles=TilePlan())
            plain = det.detect(cv2.imread(im.path))
            assert len(got) == len(ref) and np.allclose(np.sort(got.scores), np.sort(ref.scores), atol=1e-5)
            assert len(got) != len(plain) or not np.allclose(np.sort(got.scores), np.sort(plain.scores))
    finally:
        det.close()


def test_cli_detect_with_tiles_on_a_wide_image(kitti_dev, tmp_path):
    """`detect --tiles auto` on a KITTI frame with pedestrians: more pedestrians found than without, every box
    inside the frame."""
    ped = kitti_dev.classes.index("pedestrian")
    im = max(kitti_dev.images, key=lambda i: int(np.sum((np.asarray(i.class_ids) == ped) & ~np.asarray(i.difficult))))
    found = {}
    for mode in ("off", "auto"):
        out = tmp_path / mode
        proc = run_cli("detect", im.path, "--tiles", mode, "--save", "jsonl", "--out", out, "--no-progress")
        assert proc.returncode == 0, proc.stderr
        jsonl = [f for f in os.listdir(str(out)) if f.endswith(".jsonl")]
        rec = json.loads((out / jsonl[0]).read_text().splitlines()[0])
        found[mode] = [d for d in rec["detections"] if d["cls"] == "pedestrian"]
        for d in rec["detections"]:
            x1, y1, x2, y2 = d["box"]
            assert 0 <= x1 < x2 <= im.width and 0 <= y1 < y2 <= im.height
    assert len(found["auto"]) > len(found["off"])


def test_cli_refuses_a_bad_overlap(video_360p, tmp_path):
    proc = run_cli("detect", video_360p, "--tiles", "auto", "--tile-overlap", "0.95", "--out", tmp_path,
                   "--no-progress")
    err = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(err) == 1 and "overlap" in err[0], err


def test_tiling_is_the_default_and_16_9_video_keeps_its_plan_free_run(video_720p, kitti_dev):
    """`--tiles auto` is the default of detect, eval and bench; a 16:9 video file needs no tiles, so its run keeps
    batch 1 and the decoder processes' resize; a wide image set keeps the plan."""
    import argparse

    from trafficpipe.commands.options import add_tile_options, tile_plan
    from trafficpipe.pipeline.tile_check import plan_for_sources, video_size
    from trafficpipe.sources.factory import open_source
    from trafficpipe.sources.images import ImageSource
    p = argparse.ArgumentParser()
    add_tile_options(p)
    assert isinstance(tile_plan(p.parse_args([])), TilePlan)
    assert tile_plan(p.parse_args(["--tiles", "off"])) is None
    src = open_source(video_720p)
    assert video_size(src) == (1280, 720)
    assert plan_for_sources(TilePlan(), [src], 416, 416) is None
    wide = ImageSource(kitti_dev.root, paths=kitti_dev.paths[:2])
    plan = TilePlan()
    assert plan_for_sources(plan, [wide], 416, 416) is plan
    assert plan_for_sources(plan, [src, wide], 416, 416) is plan


def test_bench_and_eval_take_tiles_off(video_360p, tmp_path):
    for cmd in (["bench", video_360p], ["eval", "x"]):
        proc = run_cli(*(cmd + ["--tiles", "sometimes"]))
        assert proc.returncode != 0 and "--tiles" in proc.stderr.strip().splitlines()[-1]
