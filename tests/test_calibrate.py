"""`trafficpipe calibrate`: a class's operating point, measured on a labeled set, moved to the default threshold by a
logit shift in the head's bias; nothing else in the model changes."""
import json
import math
import os

import cv2
import numpy as np
import pytest

from cli_helpers import run_cli
from trafficpipe.eval.voc import VocCurve
from trafficpipe.models.classes import TRAFFIC_CLASSES
from trafficpipe.paths import data_dir
from trafficpipe.training.calibrate import logit, operating_point

onnx = pytest.importorskip("onnx")
TRAIN = os.path.join(data_dir(), "data", "traffic-train")
ROAD_SIGN = TRAFFIC_CLASSES.index("road_sign")


def _curve(scores, hits, n_pos):
    from trafficpipe.eval.matching import FP, TP
    return VocCurve(np.array(scores, np.float64), np.array([TP if h else FP for h in hits]), n_pos)


def test_operating_points_of_a_curve():
    # scores 0.9 .. 0.4: hit, hit, miss, hit, miss, miss; 4 boxes to find
    c = _curve([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [1, 1, 0, 1, 0, 0], 4)
    best = operating_point(c)
    assert best["threshold"] == 0.6 and best["precision"] == 0.75 and best["recall"] == 0.75
    at = operating_point(c, min_precision=0.7)
    assert at["threshold"] == 0.6 and at["recall"] == 0.75  # the lowest threshold still at precision >= 0.7
    assert operating_point(c, min_precision=0.8)["threshold"] == 0.8
    assert operating_point(c, min_precision=1.01)["threshold"] is None


def _sign_subset(tmp_path, n=24):
    """A dataset of the first `n` road-sign images of traffic-train (their image folder linked, not copied)."""
    with open(os.path.join(TRAIN, "annotations.json")) as f:
        ann = json.load(f)
    ann["images"] = [im for im in ann["images"] if "road_sign" in im.get("partial", [])][:n]
    root = tmp_path / "signs"
    root.mkdir()
    (root / "annotations.json").write_text(json.dumps(ann))
    os.symlink(os.path.join(TRAIN, "images"), str(root / "images"))
    return root, ann["images"]


def _head_biases(path):
    from onnx import numpy_helper
    from trafficpipe.training.calibrate import _bias_rows
    m = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    family, names = _bias_rows(m)
    return family, [inits[n].copy() for n in names], m


def test_calibrate_moves_one_class_and_keeps_the_rest(tmp_path):
    from trafficpipe import Detector
    from trafficpipe.models.registry import find_model
    root, images = _sign_subset(tmp_path)
    src = find_model(None)
    out = tmp_path / "calibrated.onnx"
    p = run_cli("calibrate", src, "--dataset", root, "--classes", "road_sign", "--min-precision", "0.95",
                "--out", out)
    assert p.returncode == 0, p.stderr[-2000:]
    family, before, _ = _head_biases(src)
    _, after, model = _head_biases(out)
    meta = dict((m.key, m.value) for m in model.metadata_props)
    entry = json.loads(meta["trafficpipe.calibration"])[-1]
    assert family == "picodet" and entry["class"] == "road_sign" and entry["images"] == len(images)
    assert entry["precision"] >= 0.95 and 0.3 < entry["threshold"] < 1
    delta = entry["logit_shift"]
    assert abs(delta - (logit(0.3) - logit(entry["threshold"]))) < 1e-3 and delta < -0.1
    for b, a in zip(before, after):  # only road_sign's row of each level's bias moved, by the shift
        np.testing.assert_allclose(a[ROAD_SIGN] - b[ROAD_SIGN], delta, atol=1e-4)
        keep = [i for i in range(len(a)) if i != ROAD_SIGN]
        np.testing.assert_array_equal(a[keep], b[keep])
    assert os.path.isfile(str(tmp_path / "calibrated.md"))  # the default model's card, carried over
    card = json.loads((tmp_path / "calibrated.json").read_text())
    assert card["calibration"][-1]["class"] == "road_sign" and "stale" in card["evaluation"]
    # on a real sign image: the same outputs, but road_sign's score column moved by the shift in logit space
    import onnxruntime as ort
    image = cv2.imread(os.path.join(str(root), images[0]["image"]))
    with Detector(model=src, threads=2) as det:
        x = np.zeros((1, 3, 416, 416), np.float32)
        det.adapter.preprocess(image, x[0])
    runs = [ort.InferenceSession(str(m), providers=["CPUExecutionProvider"]) for m in (src, out)]
    (a, b) = [r.run(None, {r.get_inputs()[0].name: x}) for r in runs]
    lg = lambda s: np.log(s / (1 - s))  # noqa: E731
    for level in range(4):  # PicoDet: 4 score maps [1, cells, classes], then 4 box maps
        sa, sb = a[level][0].astype(np.float64), b[level][0].astype(np.float64)
        keep = [i for i in range(sa.shape[1]) if i != ROAD_SIGN]
        np.testing.assert_allclose(sb[:, keep], sa[:, keep], atol=1e-6)
        ok = (sa[:, ROAD_SIGN] > 1e-4) & (sa[:, ROAD_SIGN] < 1 - 1e-4)
        np.testing.assert_allclose(lg(sb[ok, ROAD_SIGN]) - lg(sa[ok, ROAD_SIGN]), delta, atol=2e-3)
        np.testing.assert_allclose(b[4 + level], a[4 + level], atol=1e-6)
    assert max(float(a[level][0][:, ROAD_SIGN].max()) for level in range(4)) > 0.3  # a sign is there to move


def test_calibrate_refuses_what_it_cannot_do(tmp_path):
    root, _ = _sign_subset(tmp_path, 4)
    p = run_cli("calibrate", "picodet_s_416_coco.onnx", "--dataset", root, "--classes", "road_sign",
                "--out", tmp_path / "x.onnx")
    err = [l for l in p.stderr.strip().splitlines() if l.startswith("trafficpipe")]
    assert p.returncode == 2 and len(err) == 1 and "names no classes of its own" in err[0]
    p = run_cli("calibrate", "--dataset", root, "--classes", "stop_sign", "--out", tmp_path / "x.onnx",
                "trafficpipe_picodet_s_416.onnx")
    err = [l for l in p.stderr.strip().splitlines() if l.startswith("trafficpipe")]
    assert p.returncode == 2 and len(err) == 1 and "stop_sign not among the model's classes" in err[0]
    assert math.isclose(logit(0.5), 0.0)
