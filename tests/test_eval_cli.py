"""`trafficpipe eval` end to end: bad datasets give one-line errors; a real run on KITTI images gives a plausible AP."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from eval_cases import write_dataset
from trafficpipe.errors import DatasetError
from trafficpipe.eval import evaluate, load_dataset, score_detections
from trafficpipe.paths import data_dir

DEV = os.path.join(data_dir(), "data", "traffic-dev")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_dev = pytest.mark.skipif(not os.path.isfile(os.path.join(DEV, "annotations.json")),
                               reason="traffic-dev not found")


def run_cli(*args):
    env = dict(os.environ, TRAFFICPIPE_DATA=data_dir())
    p = subprocess.run([sys.executable, "-m", "trafficpipe", "eval"] + list(args), cwd=ROOT, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def _bad_datasets(tmp):
    os.makedirs(os.path.join(tmp, "empty"))
    yield "empty", [os.path.join(tmp, "empty")], "has no annotations.json"
    yield "nonexistent", [os.path.join(tmp, "nope")], "does not exist"
    write_dataset(os.path.join(tmp, "missing"), [{"name": "a", "boxes": [("vehicle", (0, 0, 4, 4))]},
                                                 {"name": "gone", "boxes": []}], make_files=False)
    yield "missing image", [os.path.join(tmp, "missing")], "images/src/a.jpg does not exist (and 1 more)"
    d = os.path.join(tmp, "unknown")
    write_dataset(d, [{"name": "a", "boxes": []}], make_files=True)
    doc = json.load(open(os.path.join(d, "annotations.json")))
    doc["images"][0]["boxes"] = [{"cls": "truck", "xyxy": [0, 0, 4, 4]}]
    json.dump(doc, open(os.path.join(d, "annotations.json"), "w"))
    yield "unknown class", [d], "unknown class 'truck' in boxes"
    d = os.path.join(tmp, "badjson")
    os.makedirs(d)
    open(os.path.join(d, "annotations.json"), "w").write('{"images": [')
    yield "bad json", [d], "is not valid JSON"
    video = os.path.join(tmp, "clip.mp4")
    open(video, "wb").write(b"\x00\x00\x00\x18ftypmp42")
    yield "a video file", [video], "is a file, not a labeled set"
    d = os.path.join(tmp, "ok")
    write_dataset(d, [{"name": "a", "boxes": []}], make_files=True)
    yield "unknown source", [d, "--source", "kitti"], "has no source 'kitti'"


def test_bad_datasets_fail_with_one_line(tmp_path):
    for what, args, needle in _bad_datasets(str(tmp_path)):
        rc, out, err = run_cli(*args)
        lines = err.strip().splitlines()
        assert rc != 0, what
        assert len(lines) == 1 and lines[0].startswith("trafficpipe: error:"), (what, err)
        assert needle in lines[0], (what, lines[0])
        assert "Traceback" not in err


def test_a_class_labeled_completely_nowhere_is_refused_before_detecting(tmp_path):
    """traffic-dev labels road signs only partly: `eval --classes road_sign` would score nothing, so it ends in one
    line naming what is labeled completely there, exit 2, before the model runs, and writes nothing."""
    dev = os.path.join(data_dir(), "data", "traffic-dev")
    rc, out, err = run_cli(dev, "--classes", "road_sign", "--out", str(tmp_path / "o"))
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "nothing to score: no image of %s labels road_sign completely" % dev in err
    assert "labeled completely there: bicycle, pedestrian, traffic_light, vehicle" in err
    assert not (tmp_path / "o").exists()


def test_dataset_errors_name_the_culprit(tmp_path):
    d = str(tmp_path / "exh")
    with pytest.raises(DatasetError, match=r"image images/src/a.jpg: unknown class 'lorry' in exhaustive"):
        write_dataset(d, [{"name": "a", "boxes": [], "exhaustive": ["vehicle", "lorry"]}])
    d = str(tmp_path / "box")
    write_dataset(d, [{"name": "a", "boxes": [("vehicle", (0, 0, 4, 4))]}])
    doc = json.load(open(os.path.join(d, "annotations.json")))
    doc["images"][0]["boxes"][0]["xyxy"] = [10, 0, 4, 4]
    json.dump(doc, open(os.path.join(d, "annotations.json"), "w"))
    with pytest.raises(DatasetError, match=r"box 0: empty box"):
        load_dataset(d, check_images=False)
    doc["classes"] = ["vehicle", "car"]
    json.dump(doc, open(os.path.join(d, "annotations.json"), "w"))
    with pytest.raises(DatasetError, match=r"unknown class 'car' in \"classes\""):
        load_dataset(d, check_images=False)


@needs_dev
def test_eval_kitti_end_to_end(tmp_path):
    out = str(tmp_path / "out")
    rc, stdout, err = run_cli(DEV, "--model", "picodet-s-416", "--source", "kitti", "--limit", "12", "--threads", "2",
                              "--out", out, "--no-progress")
    assert rc == 0, err
    rep = json.load(open(os.path.join(out, "report.json")))
    veh = rep["classes"]["vehicle"]
    assert rep["images"] == 12 and veh["images"] == 12 and veh["gt"] == 19
    # reference: PicoDet-S 416 vehicle AP50 0.861 on all of traffic-dev; these 12 KITTI images give 0.962
    assert 0.85 <= veh["ap50"] <= 0.99
    assert 0.3 <= veh["ap"] < veh["ap50"]
    assert set(rep["classes"]) == {"vehicle", "pedestrian"} and "bicycle" in rep["skipped_classes"]
    assert rep["sources"]["kitti"]["classes"]["vehicle"]["ap50"] == pytest.approx(veh["ap50"])
    assert rep["run"]["detector"]["conf"] == 0.001 and rep["run"]["detector"]["model"] == "picodet_s_416_coco.onnx"
    assert stdout.startswith("class") and "vehicle" in stdout and "AP50 by source" in stdout
    txt = sorted(os.listdir(os.path.join(out, "detection-results")))
    assert len(txt) == 12 and txt[0] == "000000.txt"
    first = open(os.path.join(out, "detection-results", "000000.txt")).read().splitlines()
    cls, score, x1, y1, x2, y2 = first[0].split()
    assert cls in ("vehicle", "pedestrian", "bicycle", "road_sign", "traffic_light")
    assert 0.001 <= float(score) <= 1 and int(x2) > int(x1) and int(y2) > int(y1)
    try:
        import matplotlib  # noqa: F401
        assert os.path.getsize(os.path.join(out, "pr_vehicle.png")) > 1000
        assert os.path.isfile(os.path.join(out, "pr_curves.png"))
    except ImportError:
        pass


@needs_dev
def test_evaluate_through_pipeline_scores_each_image_once(tmp_path):
    from trafficpipe import Detector
    ds = load_dataset(DEV).subset(source="nzta_traffic_cam", limit=7)
    with Detector("picodet-s-320", conf=0.001, threads=2) as det:
        res = evaluate(ds, det, batch=3)
        direct = [det.detect(cv2.imread(p)) for p in ds.paths]
    assert res.run["images"] == 7 and len(res.detections) == 7
    for a, b in zip(res.detections, direct):  # same image -> same detections, in dataset order
        assert len(a) == len(b)
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-2)
    again = score_detections(ds, direct, classes=list(res.classes))
    assert again.map50 == pytest.approx(res.map50) and res.classes["bicycle"].gt > 0
