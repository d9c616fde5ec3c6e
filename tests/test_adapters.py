"""Decoders against hand-checked outputs, the class map and NMS."""
import numpy as np
import pytest

from trafficpipe.engines.base import TensorSpec
from trafficpipe.errors import ModelError, TrafficpipeError
from trafficpipe.models.classes import COCO_CLASSES, TRAFFIC_CLASSES, parse_classes
from trafficpipe.models.nms import batched_nms, box_iou
from trafficpipe.models.picodet import PicoDetAdapter
from trafficpipe.models.yolox import YoloxAdapter

CAR, PERSON, MOTO, BUS, STOP = (COCO_CLASSES.index(n) for n in ("car", "person", "motorcycle", "bus", "stop sign"))


def picodet_specs(s=320):
    outs = []
    for st in (8, 16, 32, 64):
        n = (-(-s // st)) ** 2
        outs.append(TensorSpec("s%d" % st, (1, n, 80)))
    for st in (8, 16, 32, 64):
        n = (-(-s // st)) ** 2
        outs.append(TensorSpec("b%d" % st, (1, n, 32)))
    return [TensorSpec("image", (1, 3, s, s))], outs


def test_picodet_decodes_a_hand_made_cell():
    ins, outs = picodet_specs(320)
    ad = PicoDetAdapter(ins, outs, conf=0.3)
    o = [np.zeros(sp.shape[1:], np.float32) for sp in outs]
    # stride 16 level (index 1), grid 20x20: cell row 3, col 5 -> centre ((5.5)*16, (3.5)*16) = (88, 56)
    cell = 3 * 20 + 5
    o[1][cell, BUS] = 0.9
    o[1][cell, CAR] = 0.5
    logits = np.full((4, 8), -30.0, np.float32)
    logits[0, 2] = logits[1, 1] = logits[2, 3] = logits[3, 4] = 30.0  # l=2, t=1, r=3, b=4 bins (x16 px)
    o[5][cell] = logits.reshape(-1)
    # the source image is 640x480, the model input 320x320: x scale 2, y scale 1.5
    det = ad.postprocess(o, (2.0, 1.5, 640, 480))
    assert len(det) == 1
    assert TRAFFIC_CLASSES[det.class_ids[0]] == "vehicle"
    assert det.scores[0] == pytest.approx(0.9)
    np.testing.assert_allclose(det.boxes[0], [(88 - 32) * 2, (56 - 16) * 1.5, (88 + 48) * 2, (56 + 64) * 1.5], atol=1e-3)


def test_picodet_softmax_expectation_between_bins():
    ins, outs = picodet_specs(320)
    ad = PicoDetAdapter(ins, outs, conf=0.3)
    o = [np.zeros(sp.shape[1:], np.float32) for sp in outs]
    o[0][0, PERSON] = 0.8  # stride 8, cell (0,0): centre (4, 4)
    logits = np.full((4, 8), -30.0, np.float32)
    logits[:, 1] = logits[:, 2] = 0.0  # equal mass on bins 1 and 2 -> 1.5 bins = 12 px
    o[4][0] = logits.reshape(-1)
    det = ad.postprocess(o, (1.0, 1.0, 320, 320))
    # left/top clipped at 0; right/bottom = 4 + 12
    np.testing.assert_allclose(det.boxes[0], [0, 0, 16, 16], atol=1e-3)
    assert TRAFFIC_CLASSES[det.class_ids[0]] == "pedestrian"


def test_yolox_decodes_a_hand_made_row():
    ins = [TensorSpec("images", (1, 3, 416, 416))]
    outs = [TensorSpec("output", (1, 3549, 85))]
    ad = YoloxAdapter(ins, outs, conf=0.3)
    o = np.zeros((3549, 85), np.float32)
    row = 52 * 52 + 4 * 26 + 7  # stride 16, row 4, col 7
    o[row, :4] = [0.5, 0.25, np.log(4.0), np.log(2.0)]
    o[row, 4] = 0.8
    o[row, 5 + MOTO] = 0.75
    r = 0.5
    det = ad.postprocess([o], (r, 832, 832))
    cx, cy, w, h = (0.5 + 7) * 16, (0.25 + 4) * 16, 64, 32
    assert len(det) == 1 and TRAFFIC_CLASSES[det.class_ids[0]] == "bicycle"
    assert det.scores[0] == pytest.approx(0.6)
    np.testing.assert_allclose(det.boxes[0], np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]) / r, atol=1e-3)


def test_yolox_letterbox_is_top_left_with_114():
    ins = [TensorSpec("images", (1, 3, 416, 416))]
    ad = YoloxAdapter(ins, [TensorSpec("output", (1, 3549, 85))])
    img = np.full((200, 416, 3), 7, np.uint8)
    out = np.zeros((3, 416, 416), np.float32)
    meta = ad.preprocess(img, out)
    assert meta[0] == pytest.approx(1.0)
    assert (out[:, :200, :] == 7).all() and (out[:, 200:, :] == 114).all()


def test_picodet_preprocess_is_rgb_normalised():
    ins, outs = picodet_specs(320)
    ad = PicoDetAdapter(ins, outs)
    img = np.zeros((100, 200, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 10, 20, 30  # B, G, R
    out = np.zeros((3, 320, 320), np.float32)
    meta = ad.preprocess(img, out)
    np.testing.assert_allclose(out[:, 5, 5], [(30 - 123.675) / 58.395, (20 - 116.28) / 57.12, (10 - 103.53) / 57.375],
                               rtol=1e-5)
    assert meta == (200 / 320.0, 100 / 320.0, 200, 100)


def test_class_selection_and_unknown_class():
    ins, outs = picodet_specs(320)
    ad = PicoDetAdapter(ins, outs, classes=parse_classes("pedestrian"))
    o = [np.zeros(sp.shape[1:], np.float32) for sp in outs]
    o[0][0, CAR] = 0.9
    o[0][1, PERSON] = 0.5
    det = ad.postprocess(o, (1.0, 1.0, 320, 320))
    assert [TRAFFIC_CLASSES[c] for c in det.class_ids] == ["pedestrian"]
    with pytest.raises(TrafficpipeError, match="unknown class name 'car'"):
        parse_classes("vehicle,car")
    with pytest.raises(TrafficpipeError, match="--classes names no class"):
        parse_classes(" , ")
    with pytest.raises(TrafficpipeError, match="has an empty entry"):
        parse_classes("vehicle,,")


def test_wrong_output_shape_is_a_model_error():
    ins, outs = picodet_specs(320)
    with pytest.raises(ModelError, match="expected"):
        PicoDetAdapter([TensorSpec("image", (1, 3, 416, 416))], outs)
    with pytest.raises(ModelError, match="input shape"):
        YoloxAdapter([TensorSpec("images", (1, 1, 416, 416))], [TensorSpec("output", (1, 3549, 85))])


def test_nms_is_per_class_and_keeps_the_best():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.6, 0.9, 0.8, 0.3], np.float32)
    cls = np.array([0, 0, 1, 0], np.int32)
    keep = batched_nms(boxes, scores, cls, 0.45)
    assert keep.tolist() == [1, 2, 3]
    assert box_iou(boxes[:1], boxes[1:2])[0, 0] == pytest.approx(81 / 100.0)


def test_nms_keeps_max_det_boxes_after_the_suppression_not_before():
    """Ten places, each boxed twice (the copy overlaps by IoU 0.81): max_det 5 keeps the best box of five places, as
    NMS over every box then cut to 5 gives (OpenCV's top_k would have looked at the best 5 boxes only and kept 3)."""
    from trafficpipe.models.nms import batched_nms_images
    base = np.array([[100 * i, 0, 100 * i + 10, 10] for i in range(10)], np.float32)
    boxes = np.concatenate([base, base + np.array([1, 1, 0, 0], np.float32)])
    scores = np.concatenate([np.linspace(0.9, 0.5, 10), np.linspace(0.89, 0.49, 10)]).astype(np.float32)
    scores[10:13] = [0.95, 0.94, 0.93]  # three copies outrank every original: they are what a cut before NMS keeps
    cls = np.zeros(20, np.int32)
    keep = batched_nms(boxes, scores, cls, 0.45, max_det=5)
    assert len(keep) == 5 and sorted(set((boxes[keep, 0] // 100).astype(int).tolist())) == [0, 1, 2, 3, 4]
    image = np.zeros(20, np.int64)
    assert batched_nms_images(boxes, scores, cls, image, 1, 0.45, max_det=5)[0].tolist() == keep.tolist()


def test_nms_of_several_images_at_once_keeps_what_each_image_keeps_alone():
    """One OpenCV call for a batch (the GPU path's postprocess): every image keeps exactly the boxes, in the order,
    that `batched_nms` of its boxes alone keeps. The images share the same places (set apart, or they would suppress
    each other's boxes), with jittered copies whose overlaps spread around the threshold, and an empty image."""
    from trafficpipe.models.nms import batched_nms_images
    rng = np.random.RandomState(7)
    base = rng.uniform(0, 900, (30, 2)).astype(np.float32)
    size = rng.uniform(20, 200, (30, 2)).astype(np.float32)
    parts, images = [], []
    for i, copies in enumerate([3, 0, 2, 4, 1]):
        n = 30 * copies
        xy = np.tile(base, (copies, 1)) + rng.uniform(-0.3, 0.3, (n, 1)).astype(np.float32) * np.tile(size, (copies, 1))
        b = np.concatenate([xy, xy + np.tile(size, (copies, 1))], 1).clip(0, None).astype(np.float32)
        parts.append((b, rng.uniform(0.3, 1, n).astype(np.float32), rng.randint(0, 2, n).astype(np.int32)))
        images.append(np.full(n, i))
    boxes, scores, cls = (np.concatenate([p[k] for p in parts]) for k in range(3))
    image = np.concatenate(images).astype(np.int64)
    got = batched_nms_images(boxes, scores, cls, image, len(parts), 0.45)
    start, kept = 0, 0
    for (b, s, c), keep in zip(parts, got):
        alone = batched_nms(b, s, c, 0.45)
        assert (keep - start).tolist() == alone.tolist()
        start += len(s)
        kept += len(alone)
    assert 60 < kept < len(scores) - 60  # many boxes suppressed, many kept
