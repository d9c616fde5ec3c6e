"""`trafficpipe train --base yolox_nano_416.onnx`: the YOLOX graph cut, the letterbox the training data shares with the
YOLOX adapter, the joint obj*cls logit, the untrained traffic head exported and compared with the COCO model, a tiny
real training run (loss goes down) and the whole command on a few real images, whose validation figures are those
`trafficpipe eval` gives for the exported file, loaded by the ONNX Runtime engine (plain and device I/O) and by the
torch engine's converter. Torch tests skip only where torch is not installed."""
import json

import cv2
import numpy as np
import pytest

from cli_helpers import run_cli
from trafficpipe.models.classes import COCO_CLASSES, TRAFFIC_CLASSES
from training_helpers import DEV, PICODET, TRAIN, YOLOX, needs_torch, torch


def _dev_image(source, min_boxes):
    from trafficpipe.eval.dataset import load_dataset
    ds = load_dataset(DEV).subset(source=source)
    return [im for im in ds.images if len(im.class_ids) >= min_boxes][0]


def _ort(path, x):
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


# -- torch-free parts -------------------------------------------------------------------------------------------------
def test_yolox_graph_levels_and_the_base_told_from_the_graph(tmp_path):
    import onnx
    from onnx import TensorProto, helper
    from trafficpipe.errors import ModelError
    from trafficpipe.training.bases import open_base
    from trafficpipe.training.yolox_graph import head_levels, num_classes, training_graph
    model = onnx.load(YOLOX)
    levels = head_levels(model)
    assert [[c.input[1] for c in lv.convs] for lv in levels] == [
        ["head.reg_preds.%d.weight" % i, "head.obj_preds.%d.weight" % i, "head.cls_preds.%d.weight" % i]
        for i in range(3)]
    assert num_classes(model) == 80
    cut = training_graph(model)
    assert [o.name for o in cut.graph.output] == [c.output[0] for lv in levels for c in lv.convs]
    assert not any(n.op_type in ("Sigmoid", "Concat") and n.input[0] in [o.name for o in cut.graph.output]
                   for n in cut.graph.node)  # training sees the raw obj and cls logits
    assert open_base(YOLOX).family == "yolox" and open_base(PICODET).family == "picodet"
    other = str(tmp_path / "other.onnx")  # one output, but no YOLOX head
    g = helper.make_graph([helper.make_node("Identity", ["images"], ["output"])], "g",
                          [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 416, 416])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 416, 416])])
    onnx.save(helper.make_model(g), other)
    with pytest.raises(ModelError) as e:
        open_base(other)
    assert "PicoDet and YOLOX models only" in str(e.value)


@pytest.mark.parametrize("source", ["kitti", "road_sign_kaggle"])
def test_letterbox_is_the_yolox_adapters_input(source):
    """Training and validation prepare YOLOX images exactly as the adapter does at inference (wide and tall frames)."""
    from trafficpipe.engines.base import TensorSpec
    from trafficpipe.models.yolox import YoloxAdapter
    from trafficpipe.training.augment import letterbox, plain
    image = cv2.imread(_dev_image(source, 1).path)
    adapter = YoloxAdapter([TensorSpec("images", (1, 3, 416, 416))], [TensorSpec("output", (1, 3549, 85))])
    ref = np.zeros((416, 416, 3), np.uint8)
    r, _, _ = adapter.preprocess_u8(image, ref)
    mine, ratio = letterbox(image, 416)
    assert ratio == r and np.array_equal(mine, ref)
    out, _, boxes, _ = plain(image, np.array([[10, 20, 30, 40]], np.float32), np.zeros((0, 4)), 416, letterbox=True)
    assert np.array_equal(out, ref) and np.allclose(boxes, np.array([[10, 20, 30, 40]]) * r)


def test_letterboxed_augmentation_keeps_boxes_and_padding():
    from trafficpipe.training.augment import AugmentConfig, augment
    img = np.zeros((300, 400, 3), np.uint8)
    img[100:200, 50:150] = 255
    boxes = np.array([[50, 100, 150, 200]], np.float32)
    rng = np.random.default_rng(3)
    cfg = AugmentConfig(gray_p=0, blur_p=0)  # colour jitter on: it must leave the 114 padding alone
    seen = padded = 0
    for _ in range(30):
        out, keep, b, _ = augment(img, boxes, np.zeros((0, 4), np.float32), 416, rng, cfg, letterbox=True)
        assert out.shape == (416, 416, 3)
        rows = np.where((out != 114).any(2).any(1))[0]
        cols = np.where((out != 114).any(2).any(0))[0]
        if rows.max() < 410 or cols.max() < 410:
            padded += 1
            assert rows.min() == 0 and cols.min() == 0  # image at the top-left, padding right or bottom
        if keep[0]:
            seen += 1
            x1, y1, x2, y2 = np.round(b[0]).astype(int)
            inside = out[y1 + 3:y2 - 3, x1 + 3:x2 - 3]
            assert inside.size and inside.mean() > 120  # still on the (jittered) white square
    assert seen > 10 and padded > 10


# -- torch parts ------------------------------------------------------------------------------------------------------
@needs_torch
def test_joint_logit_is_the_logit_of_obj_times_cls():
    from trafficpipe.training.yolox_net import joint_logit
    obj = torch.tensor([[-30.0], [0.0], [3.0], [40.0], [40.0]], requires_grad=True)
    cls = torch.tensor([[-5.0, 0.0], [1.0, -1.0], [2.0, 30.0], [40.0, -40.0], [0.5, 25.0]], requires_grad=True)
    x = joint_logit(obj.double(), cls.double())
    ref = torch.sigmoid(obj.double()) * torch.sigmoid(cls.double())
    assert torch.allclose(torch.sigmoid(x), ref, rtol=1e-9, atol=1e-300)
    x.sum().backward()
    assert torch.isfinite(obj.grad).all() and torch.isfinite(cls.grad).all()


@needs_torch
def test_yolox_head_init_export_matches_the_coco_model(tmp_path):
    """The untrained traffic head exported as ONNX gives the COCO model's boxes and objectness, person scores as
    pedestrian and car scores as vehicle; torch and the teacher agree with it; the ONNX Runtime engine loads it as a
    5-class YOLOX (plain and device I/O), and its vehicles on a dev frame are the COCO model's car/bus/truck ones."""
    from trafficpipe import Detector
    from trafficpipe.models.nms import box_iou
    from trafficpipe.training.augment import letterbox
    from trafficpipe.training.export import export_onnx
    from trafficpipe.training.bases import build_network
    net, teacher = build_network(YOLOX)
    assert net.base.family == "yolox" and not net.base.dfl
    out = str(tmp_path / "trafficpipe_yolox_nano_416.onnx")
    export_onnx(net, YOLOX, out, TRAFFIC_CLASSES)
    im = _dev_image("kaggle_car_detection", 2)
    image = cv2.imread(im.path)
    canvas, _ = letterbox(image, 416)
    x = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None]).astype(np.float32)
    mine, coco = _ort(out, x)[0], _ort(YOLOX, x)[0]
    assert mine.shape == (3549, 5 + len(TRAFFIC_CLASSES)) and coco.shape == (3549, 85)
    np.testing.assert_array_equal(mine[:, :5], coco[:, :5])
    for k, name in ((0, "car"), (1, "person"), (3, "stop sign"), (4, "traffic light")):
        np.testing.assert_allclose(mine[:, 5 + k], coco[:, 5 + COCO_CLASSES.index(name)], atol=1e-6)
    net.eval()
    with torch.no_grad():
        t = net.base.normalize(torch.from_numpy(canvas[None]))
        cls, reg = net(t)
        tscores = teacher(t)[0].numpy()
    np.testing.assert_allclose(torch.sigmoid(cls)[0].numpy(), mine[:, 4:5] * mine[:, 5:], atol=1e-5)
    np.testing.assert_allclose(reg[0].numpy(), mine[:, :4], atol=2e-3)
    vehicle = coco[:, 4] * coco[:, [5 + COCO_CLASSES.index(c) for c in ("car", "bus", "truck")]].max(1)
    np.testing.assert_allclose(tscores[:, 0], vehicle, atol=1e-5)

    with Detector(model=out, threads=2) as det, Detector(model="yolox-nano", threads=2) as ref:
        assert det.family == "yolox" and det.adapter.model_classes == TRAFFIC_CLASSES  # no card: ONNX metadata
        assert tuple(det.engine.outputs[0].shape) == (1, 3549, 10)
        a, b = det.detect(image), ref.detect(image)
    cars, ref_cars = a.boxes[a.class_ids == 0], b.boxes[b.class_ids == 0]
    assert len(cars) >= 2 and len(cars) == len(ref_cars)
    assert (box_iou(cars, ref_cars).max(1) > 0.99).all()
    np.testing.assert_allclose(np.sort(a.scores[a.class_ids == 0]), np.sort(b.scores[b.class_ids == 0]), atol=1e-5)
    assert (box_iou(im.boxes.astype(np.float32), cars).max(1) > 0.4).all()  # the labelled cars (loose COCO boxes)
    with Detector(model=out, threads=2, device_io=True) as dio:
        assert dio.engine.device_io
        c = dio.detect(image)
    assert len(c) == len(a) and np.allclose(np.sort(c.scores), np.sort(a.scores), atol=1e-4)


@needs_torch
def test_tiny_yolox_training_lowers_the_loss():
    """A few steps on 2 real training images (head convolutions only): finite losses, no DFL, the loss goes down."""
    from trafficpipe.eval.dataset import load_dataset
    from trafficpipe.training.augment import AugmentConfig
    from trafficpipe.training.data import TrainSamples, collate
    from trafficpipe.training.bases import build_network
    from trafficpipe.training.trainer import TrainConfig, _optimizer, train_step
    torch.manual_seed(0)
    ds = load_dataset(TRAIN)
    picks = []
    for src in ("nzta_traffic_cam", "car_counter_roboflow"):
        picks += [i for i, im in enumerate(ds.images) if im.source == src and len(im.class_ids) >= 3][:1]
    sub = ds.subset(indices=picks)
    net, teacher = build_network(YOLOX)
    still = AugmentConfig(crop_p=0, flip_p=0, hue=0, saturation=0, value=0, gray_p=0, blur_p=0)
    samples = TrainSamples(sub, 416, still, channels=net.base.channels, letterbox=net.base.letterbox)
    batch = collate([samples[i] for i in range(len(sub))])
    assert batch["image"][0, -1, -1].tolist() == [114, 114, 114]  # letterboxed, BGR as the adapter feeds it
    heads = set(id(p) for m in net.head_convs() for p in m.parameters())
    assert len(net.head_convs()) == 9
    for p in net.parameters():
        p.requires_grad_(id(p) in heads)
    opt = _optimizer(net, TrainConfig(trainable="head", lr=3e-3))
    losses = []
    for _ in range(4):
        loss, parts = train_step(net, teacher, batch, torch.device("cpu"), TrainConfig())
        assert parts["fg"] > 0 and parts["dfl"] == 0.0 and np.isfinite(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.9, losses


@needs_torch
def test_train_cli_with_the_yolox_base_validates_as_eval_scores_its_export(tmp_path):
    """`trafficpipe train --base yolox_nano_416.onnx` on 4 real images, 1 epoch, validating on 5 dev images: the card,
    the ONNX [1,3549,10] with its class names, the best epoch's validation AP50 equal to what trafficpipe's eval gives
    the exported file on the same images; `trafficpipe export --blend 0` gives back the COCO-initialised head; the
    torch engine's converter runs the export batch-dynamic like ONNX Runtime."""
    import onnx
    from trafficpipe import Detector
    from trafficpipe.eval.dataset import load_dataset
    from trafficpipe.eval.runner import evaluate
    run = tmp_path / "run"
    proc = run_cli("train", TRAIN, "--base", "yolox_nano_416.onnx", "--val", DEV, "--val-limit", "5", "--max-images",
                   "4", "--batch", "2", "--epochs", "1", "--workers", "0", "--lr", "0.001", "--warmup-steps", "1",
                   "--device", "cpu", "--out", run, "--no-progress", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    onnx_path = str(run / "trafficpipe_yolox_nano_416.onnx")
    card = json.load(open(str(run / "trafficpipe_yolox_nano_416.json")))
    assert card["family"] == "yolox" and card["classes"] == list(TRAFFIC_CLASSES)
    assert card["input"]["name"] == "images" and "BGR" in card["input"]["format"] and "114" in card["input"]["format"]
    assert "no DFL" in card["method"]["losses"] and "[1,N,10]" in card["outputs"]
    assert card["base_model"]["license"] == "Apache-2.0"
    assert "YOLOX detector" in open(str(run / "trafficpipe_yolox_nano_416.md")).read()
    summary = json.load(open(str(run / "summary.json")))
    assert summary["family"] == "yolox" and summary["epochs_run"] == 1
    assert all(h["dfl"] == 0.0 and np.isfinite(h["loss"]) for h in summary["history"])
    model = onnx.load(onnx_path)
    assert [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim] == [1, 3549, 10]
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["trafficpipe.classes"]) == list(TRAFFIC_CLASSES)

    val = summary["best"]["val"]
    dataset = load_dataset(DEV).subset(limit=5)
    with Detector(model=onnx_path, threads=2, conf=0.001) as det:
        assert det.family == "yolox" and det.adapter.model_classes == TRAFFIC_CLASSES
        res = evaluate(dataset, det)
        dets = det.detect(cv2.imread(dataset.images[0].path))
    assert len(dets) and set(dets.class_ids.tolist()) <= set(range(5))
    assert set(val["ap50"]) == set(res.classes)
    assert any(r.ap50 is not None for r in res.classes.values())
    for name, r in res.classes.items():
        if r.ap50 is None or val["ap50"][name] is None:
            assert r.ap50 is None and val["ap50"][name] is None
        else:
            assert abs(r.ap50 - val["ap50"][name]) < 2e-3, (name, r.ap50, val["ap50"][name])

    blend0 = str(tmp_path / "blend0_yolox.onnx")
    proc = run_cli("export", str(run / "best.pt"), "--out", blend0, "--blend", "0", timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 416, 416)).astype(np.float32)
    init, trained, coco = _ort(blend0, x)[0], _ort(onnx_path, x)[0], _ort(YOLOX, x)[0]
    np.testing.assert_allclose(init[:, 5], coco[:, 5 + COCO_CLASSES.index("car")], atol=1e-5)
    assert np.abs(trained[:, 5:] - init[:, 5:]).max() > 1e-3  # trained: the class scores moved

    from trafficpipe.engines.torch_model import TorchModel
    tm = TorchModel(onnx_path, "cpu")
    assert tm.batch_dynamic and tm.batch_consistent()
    outs = [torch.zeros((2,) + tuple(o.shape[1:])) for o in tm.outputs]
    with torch.no_grad():
        tm.run_into(torch.from_numpy(np.concatenate([x, x[:, ::-1].copy()])), outs)
    np.testing.assert_allclose(outs[0][0].numpy(), trained, atol=2e-3)


@needs_torch
def test_yolox_export_runs_on_tensorrt_as_on_onnxruntime(monkeypatch, tmp_path):
    """The exported 5-class YOLOX builds and runs as a TensorRT plan (conformance double, 10.x API) and gives the
    ONNX Runtime engine's detections on a real dev frame."""
    from trafficpipe import Detector
    from trafficpipe.training.export import export_onnx
    from trafficpipe.training.bases import build_network
    from trt_support import use_doubles
    net, _ = build_network(YOLOX)
    out = str(tmp_path / "trafficpipe_yolox_nano_416.onnx")
    export_onnx(net, YOLOX, out, TRAFFIC_CLASSES)
    image = cv2.imread(_dev_image("kaggle_car_detection", 2).path)
    with Detector(model=out, threads=2) as det:
        ref = det.detect(image)
    use_doubles(monkeypatch, "10")
    with Detector(model=out, engine="tensorrt", cache_dir=str(tmp_path / "plans")) as det:
        assert det.family == "yolox" and det.adapter.model_classes == TRAFFIC_CLASSES
        got = det.detect(image)
    assert len(ref) >= 2 and len(got) == len(ref)
    np.testing.assert_array_equal(got.class_ids, ref.class_ids)
    np.testing.assert_allclose(got.boxes, ref.boxes, atol=1e-3)
    np.testing.assert_allclose(got.scores, ref.scores, atol=1e-5)
