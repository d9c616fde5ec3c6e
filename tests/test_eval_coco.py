"""COCO-style AP against pycocotools on the same detections: synthetic sets and real detections on traffic-dev."""
import os

import numpy as np
import pytest

from eval_cases import pycocotools_stats, write_dataset
from trafficpipe.eval import load_dataset, score_detections
from trafficpipe.eval.scoring import as_arrays
from trafficpipe.models.classes import TRAFFIC_CLASSES
from trafficpipe.paths import data_dir

pytest.importorskip("pycocotools")

FIELDS = ("ap", "ap50_coco", "ap75", "ap_small", "ap_medium", "ap_large")
DEV = os.path.join(data_dir(), "data", "traffic-dev")


def assert_same_as_pycocotools(dataset, detections, result):
    checked = 0
    for name, c in result.classes.items():
        ref = pycocotools_stats(dataset, detections, name)
        ours = [getattr(c, f) for f in FIELDS]
        if ref is None:  # pycocotools cannot load an empty result set; no detections means AP 0
            assert c.ap == 0.0
            continue
        for f, a, b in zip(FIELDS, ours, ref):
            if b is None:
                assert a is None, (name, f, a)
            else:
                assert a == pytest.approx(b, abs=1e-6), (name, f, a, b)  # spec: 1e-3; same algorithm, so tighter
        checked += 1
    return checked


def _random_case(rng, n_images=24):
    images, detections = [], []
    classes = ("vehicle", "pedestrian", "bicycle")
    for i in range(n_images):
        w, h = 640, 480
        boxes = []
        for _ in range(rng.integers(0, 9)):
            side = float(rng.choice([12, 24, 40, 70, 120, 200])) * rng.uniform(0.8, 1.25)
            x, y = rng.uniform(0, w - side), rng.uniform(0, h - side)
            boxes.append((str(rng.choice(classes)), (x, y, x + side * rng.uniform(0.6, 1.6), y + side),
                          bool(rng.random() < 0.2)))
        ignore = [(rng.uniform(0, 300), rng.uniform(0, 200), rng.uniform(350, 640), rng.uniform(250, 480))
                  ] if rng.random() < 0.3 else []
        exhaustive = [c for c in classes if rng.random() < 0.8]
        images.append({"name": "im%03d" % i, "source": "s%d" % (i % 3), "boxes": boxes, "ignore": ignore,
                       "exhaustive": exhaustive})
        b, s, c = [], [], []
        for cls, box, _ in boxes:
            for _ in range(rng.integers(0, 3)):  # hits of varying quality, duplicates
                j = np.array(box) + rng.normal(0, 0.12, 4) * (box[2] - box[0])
                b.append(j)
                s.append(round(rng.uniform(0.05, 1.0), 2))  # rounded: many tied scores
                c.append(TRAFFIC_CLASSES.index(cls) if rng.random() < 0.9 else TRAFFIC_CLASSES.index("vehicle"))
        crowded = i % 7 == 0  # more than maxDets (100) vehicle detections in one image
        for _ in range(int(rng.integers(110, 160)) if crowded else int(rng.integers(0, 12))):
            x, y, side = rng.uniform(0, 600), rng.uniform(0, 440), rng.uniform(5, 150)
            b.append([x, y, x + side, y + side * rng.uniform(0.5, 2)])
            s.append(round(rng.uniform(0.0, 0.9), 2))
            c.append(TRAFFIC_CLASSES.index("vehicle" if crowded else str(rng.choice(classes))))
        detections.append((np.array(b, np.float64).reshape(-1, 4), np.array(s), np.array(c, np.int64)))
    return images, detections


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synthetic_sets_match_pycocotools(tmp_path, seed):
    rng = np.random.default_rng(seed)
    images, detections = _random_case(rng)
    ds = write_dataset(str(tmp_path), images)
    result = score_detections(ds, detections, classes=["vehicle", "pedestrian", "bicycle"])
    assert assert_same_as_pycocotools(ds, detections, result) >= 2


@pytest.fixture(scope="module")
def dev_subset_detections():
    if not os.path.isfile(os.path.join(DEV, "annotations.json")):
        pytest.skip("traffic-dev not found under %s" % DEV)
    from trafficpipe import Detector
    ds = load_dataset(DEV)
    take = {"kitti": (4, 10), "road_sign_kaggle": (25, 8), "kaggle_car_detection": (17, 8),
            "nzta_traffic_cam": (5, 10), "car_counter_roboflow": (15, 4)}
    idx = []
    for src, (step, n) in take.items():
        idx += [im.index for im in ds.images if im.source == src][::step][:n]
    sub = ds.subset(sorted(idx))
    assert len(sub) == 40
    with Detector("picodet-s-416", conf=0.001, threads=2) as det:
        dets = [as_arrays(det.detect(__import__("cv2").imread(p))) for p in sub.paths]
    return sub, dets


def test_real_detections_match_pycocotools(dev_subset_detections):
    sub, dets = dev_subset_detections
    assert any(len(im.ignore_regions) for im in sub.images) and any(im.difficult.any() for im in sub.images)
    result = score_detections(sub, dets)
    assert set(result.classes) == {"vehicle", "pedestrian", "bicycle", "traffic_light"}
    assert assert_same_as_pycocotools(sub, dets, result) == 4
    assert 0.3 < result.classes["vehicle"].ap < result.classes["vehicle"].ap50_coco
