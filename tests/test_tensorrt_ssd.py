"""TLT/TAO SSD engines: the ssd-nms adapter on synthetic NMS plugin outputs, and a tlt-converter-like
plan (implicit batch on 8.2, NMS_TRT plugin) run end to end through the TensorRT engine double."""
import json
import os

import cv2
import numpy as np
import pytest

from trafficpipe.engines.base import TensorSpec
from trafficpipe.models.classes import TRAFFIC_CLASSES
from trt_support import KITTI, SSD_KEEP, SSD_ROWS, count, ssd_onnx, use_doubles

K = SSD_ROWS.shape[0]
VEHICLE, PEDESTRIAN, BICYCLE = (TRAFFIC_CLASSES.index(c) for c in ("vehicle", "pedestrian", "bicycle"))


def _adapter(**kw):
    from trafficpipe.models.registry import create_adapter
    ins = [TensorSpec("Input", (-1, 3, 384, 1248))]
    outs = [TensorSpec("NMS", (-1, 1, K, 7)), TensorSpec("NMS_1", (-1, 1, 1, 1), np.int32)]
    return create_adapter("ssd-nms", ins, outs, **kw)


def _outputs(rows=SSD_ROWS, keep=SSD_KEEP):
    return [rows.reshape(1, K, 7), np.array([[[keep]]], np.int32)]


def test_nms_rows_become_traffic_detections():
    a = _adapter()
    d = a.postprocess(_outputs(), (1242, 375))
    order = np.argsort(-d.scores)
    assert d.class_ids[order].tolist() == [VEHICLE, PEDESTRIAN]  # background dropped, row past the keep count ignored
    assert np.allclose(d.scores[order], [0.9, 0.8])
    assert np.allclose(d.boxes[order][0], [0.1 * 1242, 0.2 * 375, 0.3 * 1242, 0.5 * 375], atol=1e-3)
    assert np.allclose(d.boxes[order][1], [0.5 * 1242, 0.4 * 375, 0.55 * 1242, 0.9 * 375], atol=1e-3)
    # the keep count decides: with 4 rows the cyclist (label 2) counts, as a bicycle
    d4 = a.postprocess(_outputs(keep=4), (1242, 375))
    assert sorted(d4.class_ids.tolist()) == sorted([VEHICLE, PEDESTRIAN, BICYCLE])
    assert len(a.postprocess(_outputs(keep=0), (1242, 375))) == 0


def test_threshold_classes_and_labels():
    assert _adapter(conf=0.85).postprocess(_outputs(), (100, 100)).class_ids.tolist() == [VEHICLE]
    assert _adapter(classes=("pedestrian",)).postprocess(_outputs(), (100, 100)).class_ids.tolist() == [PEDESTRIAN]
    # a model trained on other classes names them (by NMS label) in its model card
    a = _adapter(model_classes=("background", "pedestrian", "car", "road_sign"))
    d = a.postprocess(_outputs(keep=4), (100, 100))
    assert sorted(d.class_ids.tolist()) == sorted([PEDESTRIAN, TRAFFIC_CLASSES.index("road_sign"), VEHICLE])


def test_preprocess_is_bgr_minus_mean_plain_resize():
    a = _adapter()
    img = np.zeros((375, 1242, 3), np.uint8)
    img[:] = (10, 20, 30)  # B, G, R
    img[:, :621] = (200, 100, 50)
    out = np.zeros((3, 384, 1248), np.float32)
    assert a.preprocess(img, out) == (1242, 375)
    assert np.allclose(out[:, 5, -5], [10 - 103.939, 20 - 116.779, 30 - 123.68], atol=1e-3)
    assert np.allclose(out[:, 5, 5], [200 - 103.939, 100 - 116.779, 50 - 123.68], atol=1e-3)
    assert abs(np.argmax(out[0, 0] < 0) - 624) <= 2  # no letterbox: the halves stay halves


def test_family_is_guessed_from_the_nms_output():
    from trafficpipe.models.registry import guess_family
    outs = [TensorSpec("NMS", (-1, 1, K, 7)), TensorSpec("NMS_1", (-1, 1, 1, 1), np.int32)]
    assert guess_family("/models/ssd_resnet18_kitti.engine", outs) == "ssd-nms"


def _expected(w, h):
    rows = SSD_ROWS[:SSD_KEEP]
    rows = rows[rows[:, 1] > 0]
    return rows[:, 3:7] * np.array([w, h, w, h], np.float32)


@pytest.mark.parametrize("gen", ["8.2", "10"])
def test_tlt_ssd_engine_end_to_end(monkeypatch, tmp_path, gen):
    """A plan as tlt-converter writes it (8.2: implicit batch, max batch 2; both: the NMS_TRT plugin), loaded from
    its .engine file: plugins are registered before deserialization and detections come out in image pixels."""
    pytest.importorskip("onnx")
    from doubles import fake_tensorrt
    from trafficpipe.detector import Detector
    trt = use_doubles(monkeypatch, gen)
    implicit = gen == "8.2"
    onnx_path = ssd_onnx(str(tmp_path / "ssd.onnx"), batch=None if implicit else 1)
    engine = fake_tensorrt.write_plan(trt, str(tmp_path / "ssd_resnet18_kitti.engine"), onnx_path,
                                      implicit_batch=implicit, max_batch_size=2, plugins=["NMS_TRT"])
    img = cv2.imread(os.path.join(KITTI, sorted(os.listdir(KITTI))[0]))
    h, w = img.shape[:2]
    with Detector(engine, engine="tensorrt") as det:
        assert det.family == "ssd-nms" and det.engine.io_api == ("implicit" if implicit else "tensor")
        assert tuple(det.engine.inputs[0].shape[1:]) == (3, 384, 1248)
        results = det.detect_batch([img, img])
    for d in results:
        order = np.argsort(-d.scores)
        assert d.class_ids[order].tolist() == [VEHICLE, PEDESTRIAN]
        assert np.allclose(d.boxes[order], _expected(w, h), atol=1e-2)
    names = fake_tensorrt.event_names(trt)
    assert names.index("init_libnvinfer_plugins") < names.index("deserialize")
    assert count(trt, "enqueue") == (1 if implicit else 2)  # implicit batch: execute_async(batch_size=2)


def test_tlt_ssd_labels_from_a_model_card(monkeypatch, tmp_path):
    pytest.importorskip("onnx")
    from doubles import fake_tensorrt
    from trafficpipe.detector import Detector
    trt = use_doubles(monkeypatch, "8.2")
    onnx_path = ssd_onnx(str(tmp_path / "ssd.onnx"))
    engine = fake_tensorrt.write_plan(trt, str(tmp_path / "ssd_custom.engine"), onnx_path, implicit_batch=True,
                                      max_batch_size=1, plugins=["NMS_TRT"])
    with open(str(tmp_path / "ssd_custom.json"), "w") as f:
        json.dump({"classes": ["background", "bicycle", "car", "person"]}, f)
    img = cv2.imread(os.path.join(KITTI, sorted(os.listdir(KITTI))[1]))
    with Detector(engine, engine="tensorrt") as det:
        d = det.detect(img)
    assert sorted(d.class_ids.tolist()) == sorted([BICYCLE, PEDESTRIAN])  # labels 1 and 3 of this card
