"""`trafficpipe train` / `export` on the CPU: the PicoDet graph surgery, head initialisation from COCO rows, the
partial-label loss weighting, SimOTA, a tiny real training run (loss goes down) and an export that the ONNX Runtime
engine loads and the PicoDet adapter decodes. Torch tests skip only where torch is not installed
(CI: pip install torch==2.13.0 && pip install --no-deps onnx2torch)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cli_helpers import run_cli
from trafficpipe.models.classes import COCO_CLASSES, TRAFFIC_CLASSES
from training_helpers import DEV, PICODET as BASE, TRAIN, needs_torch, torch


# -- torch-free parts -------------------------------------------------------------------------------------------------
def test_head_levels_of_the_shared_picodet():
    import onnx
    from trafficpipe.engines.onnx_graph import cleaned_model_path
    from trafficpipe.training.picodet_graph import head_levels, num_classes, training_graph
    model = onnx.load(cleaned_model_path(BASE))
    levels = head_levels(model)
    assert [lv.score_output for lv in levels] == [o.name for o in model.graph.output[:4]]
    assert [lv.box_output for lv in levels] == [o.name for o in model.graph.output[4:]]
    assert num_classes(model) == 80
    cut = training_graph(model)
    assert [o.name for o in cut.graph.output] == [lv.conv_output for lv in levels]
    assert sum(n.op_type == "Sigmoid" for n in model.graph.node) == 4  # the exported scores' sigmoid ...
    assert not any(n.op_type in ("Sigmoid", "Split", "Transpose") and n.input[0] in [lv.conv_output for lv in levels]
                   for n in cut.graph.node)  # ... is cut off with the head's reshapes: training sees the logits
    assert not any(n.op_type == "Sigmoid" for n in cut.graph.node)


def test_training_package_imports_without_torch():
    code = ("import sys; sys.modules['torch'] = None; sys.modules['onnx2torch'] = None\n"
            "import trafficpipe.training, trafficpipe.training.cli, trafficpipe.training.export_cli\n"
            "from trafficpipe.cli import build_parser\n"
            "p = build_parser(); a = p.parse_args(['train', 'x']); print(a.base, a.epochs, a.imgsz)\n"
            "from trafficpipe.cli import main\n"
            "sys.exit(main(['train', %r, '--val', %r]))\n" % (TRAIN, DEV))
    proc = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120)
    assert proc.stdout.startswith("picodet_s_416_coco.onnx 30 416")
    assert proc.returncode == 2, proc.stderr
    err = [l for l in proc.stderr.splitlines() if "error" in l]
    assert len(err) == 1 and "needs torch" in err[0] and "Traceback" not in proc.stderr


def test_train_refuses_the_validation_set_as_training_set():
    proc = run_cli("train", DEV, "--val", DEV, "--device", "cpu", "--epochs", "1", timeout=120)
    assert proc.returncode == 2
    assert "never train on the validation set" in proc.stderr or "needs torch" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("flag,value,words", [
    ("--lr", "-1", "argument --lr: must be more than 0"),
    ("--workers", "-1", "argument --workers: must be 0 or more"),
    ("--device", "tpu", "expected cpu, cuda or cuda:N"),
    ("--time-budget", "-5", "argument --time-budget: must be 0 or more"),
    ("--tile-crop", "2", "argument --tile-crop: must be between 0 and 1"),
    ("--val", "/no/such/set", "dataset /no/such/set does not exist"),
])
def test_a_bad_train_flag_ends_in_one_line_before_any_work(tmp_path, flag, value, words):
    proc = run_cli("train", TRAIN, "--epochs", "1", "--out", tmp_path / "run", flag, value, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    errors = [l for l in proc.stderr.splitlines() if "error:" in l]
    assert len(errors) == 1 and (words in errors[0] or "needs torch" in errors[0]), proc.stderr
    assert not (tmp_path / "run").exists()


def test_export_and_calibrate_check_their_outputs_and_sets_before_writing(tmp_path):
    from trafficpipe.models.registry import find_model
    ckpt = tmp_path / "best.pt"
    ckpt.write_bytes(b"not read: the options are checked first")
    shipped = find_model("trafficpipe_picodet_s_416.onnx")
    for args, words in (
            (["export", ckpt, "--out", tmp_path / "m.txt"], "give a file name ending in .onnx"),
            (["export", ckpt, "--out", tmp_path / "m.onnx", "--eval", tmp_path / "nope"], "does not exist"),
            (["calibrate", shipped, "--dataset", TRAIN, "--classes", "road_sign", "--out", tmp_path / "c"],
             "give a file name ending in .onnx"),
            (["calibrate", shipped, "--dataset", TRAIN, "--classes", "road_sign", "--out", tmp_path / "c.onnx",
              "--eval", tmp_path / "nope"], "does not exist")):
        proc = run_cli(*args, timeout=120)
        errors = [l for l in proc.stderr.splitlines() if "error:" in l]
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert len(errors) == 1 and (words in errors[0] or "needs torch" in errors[0]), proc.stderr
    assert sorted(os.listdir(str(tmp_path))) == ["best.pt"]


@needs_torch
def test_a_second_run_into_the_same_folder_keeps_the_first(tmp_path):
    """A folder holding an earlier run's files (its checkpoint and summary, written here as they stand) is left as
    it is: the new run writes to the next free name."""
    args = ["train", TRAIN, "--device", "cpu", "--epochs", "1", "--max-images", "4", "--trainable", "head",
            "--workers", "0", "--no-progress", "--out", tmp_path / "run"]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "best.pt").write_bytes(b"an earlier run's checkpoint")
    (tmp_path / "run" / "summary.json").write_text('{"best_epoch": 1}')
    before = (tmp_path / "run" / "best.pt").read_bytes()
    second = run_cli(*args, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "holds an earlier run; this one writes to %s" % (tmp_path / "run2") in second.stderr
    assert (tmp_path / "run" / "best.pt").read_bytes() == before
    assert (tmp_path / "run2" / "best.pt").is_file() and str(tmp_path / "run2") in second.stdout


@needs_torch
def test_train_refuses_a_base_that_is_neither_picodet_nor_yolox(tmp_path):
    import onnx
    from onnx import TensorProto, helper
    other = str(tmp_path / "other.onnx")
    nodes = [helper.make_node("Identity", ["image"], [n]) for n in "ab"]  # two outputs, no detector head
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 416, 416])],
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 416, 416]) for n in "ab"])
    onnx.save(helper.make_model(g), other)
    proc = run_cli("train", TRAIN, "--base", other, "--device", "cpu", "--epochs", "1", "--max-images", "4", "--out",
                   tmp_path / "run", timeout=120)
    assert proc.returncode != 0
    errors = [l for l in proc.stderr.splitlines() if l.startswith("trafficpipe: error:")]
    assert len(errors) == 1 and "PicoDet and YOLOX models only" in errors[0] and "Traceback" not in proc.stderr
    assert "DataLoader" not in proc.stderr  # refused before any data loads


def test_model_card_names_the_classes(tmp_path):
    from trafficpipe.errors import ModelError
    from trafficpipe.models.model_card import model_classes
    model = tmp_path / "m.onnx"
    model.write_bytes(b"\x08\x07")
    assert model_classes(str(model)) is None
    (tmp_path / "m.json").write_text(json.dumps({"classes": list(TRAFFIC_CLASSES)}))
    assert model_classes(str(model)) == TRAFFIC_CLASSES
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(ModelError):
        model_classes(str(model))
    assert model_classes(BASE) is None  # the COCO models keep the adapter's COCO list


def test_metadata_is_read_as_the_onnx_package_reads_it(tmp_path):
    """The ONNX metadata reader (no onnx import at start) gives what onnx.load gives: the shared COCO models (none),
    the shipped model, a model with several entries and non-ASCII text; a broken or missing file gives None."""
    onnx = pytest.importorskip("onnx")
    from trafficpipe.models.model_card import metadata_props, model_classes
    from trafficpipe.models.registry import find_model
    written = onnx.load(find_model("picodet_s_320_coco.onnx"))
    for k, v in (("trafficpipe.classes", json.dumps(["vehicle", "piéton"])), ("note", "x" * 300), ("", "")):
        written.metadata_props.add(key=k, value=v)
    onnx.save(written, str(tmp_path / "w.onnx"))
    paths = [find_model(n) for n in ("picodet_s_416_coco.onnx", "yolox_nano_416.onnx",
                                     "trafficpipe_picodet_s_416.onnx")] + [str(tmp_path / "w.onnx")]
    for path in paths:
        reference = dict((p.key, p.value) for p in onnx.load(path, load_external_data=False).metadata_props)
        assert metadata_props(path) == reference, path
    assert model_classes(str(tmp_path / "w.onnx")) == ("vehicle", "piéton")
    (tmp_path / "cut.onnx").write_bytes(open(paths[-1], "rb").read()[:5000])
    assert metadata_props(str(tmp_path / "cut.onnx")) is None and metadata_props(str(tmp_path / "none")) is None


def test_repeat_factors_favour_rare_classes():
    from trafficpipe.eval.dataset import load_dataset
    from trafficpipe.training.data import class_state, repeat_factors
    ds = load_dataset(TRAIN)
    w = repeat_factors(ds)
    tl = TRAFFIC_CLASSES.index("traffic_light")
    with_tl = [i for i, im in enumerate(ds.images) if tl in im.class_ids]
    plain = [i for i, im in enumerate(ds.images) if len(im.class_ids) and set(im.class_ids.tolist()) == {0}]
    assert with_tl and plain and w[with_tl].min() > 2.0 and np.allclose(w[plain], 1.0)
    rs = [im for im in ds.images if im.source == "road_sign_kaggle"][0]
    st = class_state(rs)
    assert st[TRAFFIC_CLASSES.index("traffic_light")] == 0 and st[TRAFFIC_CLASSES.index("road_sign")] == 1
    assert st[TRAFFIC_CLASSES.index("vehicle")] == 2


def test_augment_keeps_boxes_on_their_objects():
    from trafficpipe.training.augment import AugmentConfig, augment
    img = np.zeros((300, 400, 3), np.uint8)
    img[100:200, 50:150] = 255  # a white square, boxed
    boxes = np.array([[50, 100, 150, 200]], np.float32)
    rng = np.random.default_rng(1)
    cfg = AugmentConfig(hue=0, saturation=0, value=0, gray_p=0, blur_p=0)
    seen = 0
    for _ in range(30):
        out, keep, b, ign = augment(img, boxes, np.zeros((0, 4), np.float32), 416, rng, cfg)
        assert out.shape == (416, 416, 3)
        if keep[0]:
            seen += 1
            x1, y1, x2, y2 = np.round(b[0]).astype(int)
            inside = out[y1 + 3:y2 - 3, x1 + 3:x2 - 3]
            assert inside.size and inside.mean() > 200  # the box still covers the white square
            assert x1 < 4 or out[:, :x1 - 3].mean() < 30
        else:
            assert ign.shape[0] <= 1
    assert seen > 10


def test_boost_raises_the_images_of_a_class_only():
    from trafficpipe.eval.dataset import load_dataset
    from trafficpipe.training.data import repeat_factors
    ds = load_dataset(TRAIN)
    base, boosted = repeat_factors(ds), repeat_factors(ds, boost={"pedestrian": 3})
    ped = TRAFFIC_CLASSES.index("pedestrian")
    with_ped = np.array([ped in im.class_ids for im in ds.images])
    assert with_ped.any() and boosted[with_ped].min() >= 3.0 and np.all(boosted[with_ped] >= base[with_ped])
    assert np.allclose(boosted[~with_ped], base[~with_ped])


def test_copy_paste_adds_real_traffic_lights_where_nothing_is_covered():
    """Copy-paste cuts traffic-train's labeled traffic lights (22, 21 of them at least 8 px) and pastes 1-3 into a
    view: each pasted box is a new label inside the image, covers no labeled object by more than a fifth, holds the
    source light's pixels, and an image that labels no traffic light at all labels them partly from then on."""
    import cv2
    from trafficpipe.eval.dataset import load_dataset
    from trafficpipe.training.augment import AugmentConfig
    from trafficpipe.training.data import TrainSamples
    from trafficpipe.training.label_state import PARTIAL, UNLISTED
    from trafficpipe.eval.matching import inside_fraction
    tl = TRAFFIC_CLASSES.index("traffic_light")
    ds = load_dataset(TRAIN)
    samples = TrainSamples(ds, 416, AugmentConfig(crop_p=0.0, flip_p=0.0, saturation=0.0, value=0.0, hue=0.0,
                                                  gray_p=0.0, blur_p=0.0), channels="bgr", paste={tl: 1.0})
    assert len(samples.banks) == 1 and samples.banks[0].counts() == {tl: 21}
    bank, rng = samples.banks[0], np.random.default_rng(0)
    source = bank.entries[tl][0][0]  # an image with its own lights never gets them back
    assert bank.has_others(tl, source) and all(bank.draw(tl, source, rng)[0] != source for _ in range(200))
    unlisted = [i for i, im in enumerate(ds.images) if samples.states[i][tl] == UNLISTED]
    pasted = 0
    for i in unlisted[:12]:
        im = ds.images[i]
        out = samples[i]
        n_own = im.boxes.shape[0]
        new = out["boxes"][n_own:]
        assert np.array_equal(out["labels"][:n_own], im.class_ids) and np.all(out["labels"][n_own:] == tl)
        assert out["state"][tl] == (PARTIAL if len(new) else UNLISTED)
        assert np.all(new >= 0) and np.all(new <= 416)
        own = out["boxes"][:n_own]
        for b in new:
            assert len(own) == 0 or inside_fraction(own, b[None]).max() <= 0.2
        pasted += len(new)
        assert samples.states[i][tl] == UNLISTED  # the dataset's own state is left as it was
    assert pasted >= 12
    # the pasted pixels are a light's: the view differs from the plain image exactly around the new boxes
    i = unlisted[0]
    out = samples[i]
    plain = cv2.resize(cv2.imread(ds.images[i].path), (416, 416), interpolation=cv2.INTER_LINEAR)
    diff = np.abs(out["image"].astype(int) - plain.astype(int)).max(axis=2) > 12  # above the HSV round trip
    inside = np.zeros_like(diff)
    for x0, y0, x1, y1 in out["boxes"][ds.images[i].boxes.shape[0]:]:
        w, h = x1 - x0, y1 - y0
        inside[max(0, int(y0 - h)):int(y1 + h) + 1, max(0, int(x0 - w)):int(x1 + w) + 1] = True
    assert diff.any() and not (diff & ~inside).any()


def test_drawn_lights_are_boxed_whole_and_pasted_with_their_outline():
    """A drawn traffic light (synth_lights.render) boxes each housing inside its patch, with an alpha that covers the
    housing; pasted into traffic-train views it adds traffic-light labels where it changes pixels, never elsewhere,
    and leaves the image's own labels as they were."""
    from trafficpipe.eval.dataset import load_dataset
    from trafficpipe.training.augment import AugmentConfig
    from trafficpipe.training.data import TrainSamples
    from trafficpipe.training.synth_lights import render
    rng = np.random.default_rng(3)
    pairs = 0
    for _ in range(60):
        patch, alpha, boxes = render(rng)
        h, w = patch.shape[:2]
        assert patch.dtype == np.uint8 and alpha.shape == (h, w, 1) and 0.0 <= alpha.min() and alpha.max() <= 1.0
        assert boxes.shape[1] == 4 and 1 <= len(boxes) <= 2
        pairs += len(boxes) == 2
        for x0, y0, x1, y1 in boxes:
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h and min(x1 - x0, y1 - y0) >= 10
            centre = alpha[int((y0 + y1) / 2), int((x0 + x1) / 2), 0]
            assert centre > 0.9  # a housing, not empty canvas, is at the box's centre
    assert 2 <= pairs <= 20  # two housings side by side in about 15 % of the draws
    tl = TRAFFIC_CLASSES.index("traffic_light")
    ds = load_dataset(TRAIN).subset(limit=24)
    samples = TrainSamples(ds, 416, AugmentConfig(crop_p=0.0, flip_p=0.0, saturation=0.0, value=0.0, hue=0.0,
                                                  gray_p=0.0, blur_p=0.0), channels="bgr", drawn_lights=1.0)
    assert [b.kind for b in samples.banks] == ["drawn lights"]
    added = 0
    for i, im in enumerate(ds.images):
        out = samples[i]
        n_own = im.boxes.shape[0]
        assert np.array_equal(out["labels"][:n_own], im.class_ids) and np.all(out["labels"][n_own:] == tl)
        added += len(out["labels"]) - n_own
    assert added >= 24


def test_copy_paste_flag_values():
    from trafficpipe.errors import TrafficpipeError
    from trafficpipe.training.cli import parse_class_values
    assert parse_class_values("traffic_light=0.5", "--copy-paste", "0 < VALUE <= 1", upper=1.0) == \
        {"traffic_light": 0.5}
    for bad in ("traffic_light=2", "light=0.5", "traffic_light=0", "traffic_light"):
        with pytest.raises(TrafficpipeError, match="--copy-paste expects CLASS=VALUE"):
            parse_class_values(bad, "--copy-paste", "0 < VALUE <= 1", upper=1.0)


def test_tile_crops_keep_objects_at_their_own_size():
    """A tile crop is a square window of about the input size in image pixels: a 40 px person in an 800x600 frame
    stays about 40 px tall in the 416 input (the plain resize of the whole frame makes it 28 px)."""
    from trafficpipe.training.augment import AugmentConfig, augment
    img = np.zeros((600, 800, 3), np.uint8)
    img[300:340, 400:416] = 255
    boxes = np.array([[400, 300, 416, 340]], np.float32)
    cfg = AugmentConfig(crop_p=1.0, tile_p=1.0, tile_px=416, hue=0, saturation=0, value=0, gray_p=0, blur_p=0)
    rng = np.random.default_rng(0)
    heights = []
    for _ in range(40):
        out, keep, b, _ = augment(img, boxes, np.zeros((0, 4), np.float32), 416, rng, cfg)
        assert out.shape == (416, 416, 3)
        if keep[0]:
            heights.append(b[0, 3] - b[0, 1])
    assert heights and 40 / 1.4 - 1 <= min(heights) and max(heights) <= 40 / 0.8 + 1


# -- torch parts ------------------------------------------------------------------------------------------------------
@needs_torch
def test_class_targets_respect_partial_labels():
    from trafficpipe.training.losses import EXHAUSTIVE, PARTIAL, UNLISTED, class_targets
    a, k = 6, 3
    gt_index = torch.tensor([[0, -1, -1, -1, -1, -1]])
    iou = torch.tensor([[0.8, 0, 0, 0, 0, 0]])
    labels = torch.tensor([[1]])
    state = torch.tensor([[EXHAUSTIVE, PARTIAL, UNLISTED]])
    teacher = torch.full((1, a, k), 0.25)
    ignore = torch.tensor([[False, False, False, False, False, True]])
    t, w = class_targets(gt_index, iou, labels, state, teacher, k, ignore)
    assert torch.allclose(t[0, 0], torch.tensor([0.0, 0.8, 0.0])) and torch.all(w[0, 0] == 1)  # assigned cell
    assert torch.all(t[0, 1:5, 0] == 0) and torch.all(w[0, 1:5, 0] == 1)  # exhaustive: negatives
    assert torch.all(w[0, 1:5, 1] == 0)  # partial: an unlabeled object may be there, no loss
    assert torch.allclose(t[0, 1:5, 2], torch.tensor(0.25)) and torch.all(w[0, 1:5, 2] == 1)  # unlisted: teacher
    assert torch.all(w[0, 5] == 0)  # ignore region
    t, w = class_targets(gt_index, iou, labels, state, teacher, k, ignore, partial="distill")
    assert torch.allclose(t[0, 1:5, 1], torch.tensor(0.25)) and torch.all(w[0, 1:5, 1] == 1)  # partial: teacher
    assert torch.allclose(t[0, 0], torch.tensor([0.0, 0.8, 0.0]))  # assigned cells keep their targets


@needs_torch
def test_simota_assigns_cells_inside_the_box():
    from trafficpipe.training.assign import simota_assign
    from trafficpipe.training.network import anchor_points
    pts, st = anchor_points(416)
    pts, st = torch.from_numpy(pts), torch.from_numpy(st)
    gt = torch.tensor([[[100.0, 120.0, 180.0, 220.0], [0, 0, 0, 0]]])
    # predictions: every cell predicts the gt box, class 0 scores 0.5
    boxes = gt[:, :1].expand(1, pts.shape[0], 4).clone()
    scores = torch.full((1, pts.shape[0], 2), 0.5)
    idx, iou = simota_assign(scores, boxes, pts, st, gt, torch.tensor([[0, 0]]), torch.tensor([[True, False]]))
    fg = (idx[0] >= 0).nonzero().flatten()
    assert 1 <= fg.numel() <= 10 and torch.all(idx[0, fg] == 0)
    p = pts[fg]
    assert torch.all((p[:, 0] > 100) & (p[:, 0] < 180) & (p[:, 1] > 120) & (p[:, 1] < 220))
    assert torch.allclose(iou[0, fg], torch.ones(fg.numel()))


@needs_torch
def test_head_init_export_keeps_the_coco_channels(tmp_path):
    """The untrained traffic head exported as ONNX: its pedestrian scores are the COCO model's person scores, its
    box maps the COCO model's, and the ONNX Runtime engine + PicoDet adapter load it as a 5-class model."""
    import onnxruntime as ort
    from trafficpipe import Detector
    from trafficpipe.training.export import export_onnx
    from trafficpipe.training.bases import build_network
    net, _ = build_network(BASE)
    out = str(tmp_path / "init.onnx")
    export_onnx(net, BASE, out, TRAFFIC_CLASSES)
    img = np.random.default_rng(0).normal(size=(1, 3, 416, 416)).astype(np.float32)
    mine = ort.InferenceSession(out, providers=["CPUExecutionProvider"]).run(None, {"image": img})
    coco = ort.InferenceSession(BASE, providers=["CPUExecutionProvider"]).run(None, {"image": img})
    for i in range(4):
        assert mine[i].shape == coco[i].shape[:2] + (5,)
        np.testing.assert_allclose(mine[i][..., 1], coco[i][..., COCO_CLASSES.index("person")], atol=1e-5)
        np.testing.assert_allclose(mine[i][..., 0], coco[i][..., COCO_CLASSES.index("car")], atol=1e-5)
        np.testing.assert_allclose(mine[4 + i], coco[4 + i], atol=1e-4)
    with Detector(model=out, threads=2) as det:
        assert det.family == "picodet" and det.adapter.model_classes == TRAFFIC_CLASSES  # no card: ONNX metadata
        assert det.adapter.class_map.identity


@needs_torch
def test_tiny_training_run_lowers_the_loss_and_exports(tmp_path):
    """A few steps on 4 real training images (head convolutions only, to stay fast on 2 cores): the loss goes down,
    the export loads in the ONNX Runtime engine, decodes through the adapter and matches the torch model."""
    from trafficpipe import Detector
    from trafficpipe.eval.dataset import load_dataset
    from trafficpipe.training.augment import AugmentConfig
    from trafficpipe.training.card import build_card, write_card
    from trafficpipe.training.data import TrainSamples, collate
    from trafficpipe.training.export import export_onnx
    from trafficpipe.training.bases import build_network
    from trafficpipe.training.network import normalize
    from trafficpipe.training.trainer import TrainConfig, _optimizer, train_step
    torch.manual_seed(0)
    ds = load_dataset(TRAIN)
    picks = []
    for src in ("nzta_traffic_cam", "car_counter_roboflow"):  # vehicles, bicycles, pedestrians; partial + exhaustive
        picks += [i for i, im in enumerate(ds.images) if im.source == src and len(im.class_ids) >= 3][:1]
    sub = ds.subset(indices=picks)
    still = AugmentConfig(crop_p=0, flip_p=0, hue=0, saturation=0, value=0, gray_p=0, blur_p=0)
    batch = collate([TrainSamples(sub, 416, still)[i] for i in range(len(sub))])
    net, teacher = build_network(BASE)
    heads = set(id(p) for m in net.head_convs() for p in m.parameters())
    for p in net.parameters():
        p.requires_grad_(id(p) in heads)
    cfg = TrainConfig(trainable="head", lr=3e-3)
    opt = _optimizer(net, cfg)
    losses = []
    for _ in range(4):
        loss, parts = train_step(net, teacher, batch, torch.device("cpu"), cfg)
        assert parts["fg"] > 0 and np.isfinite(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.9, losses

    out = str(tmp_path / "tiny.onnx")
    export_onnx(net, BASE, out, TRAFFIC_CLASSES)
    write_card(build_card(out, TRAFFIC_CLASSES, BASE), out)
    assert json.load(open(str(tmp_path / "tiny.json")))["classes"] == list(TRAFFIC_CLASSES)
    import cv2
    image = cv2.imread(sub.images[0].path)
    with Detector(model=out, threads=2, conf=0.3) as det:
        dets = det.detect(image)
        assert det.adapter.model_classes == TRAFFIC_CLASSES
        slot_out = det.engine.infer({"image": _adapter_input(det, image)})
    assert len(dets) > 0 and set(dets.class_ids.tolist()) <= set(range(5))
    net.eval()
    with torch.no_grad():
        rgb = cv2.cvtColor(cv2.resize(image, (416, 416), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
        cls, reg = net(normalize(torch.from_numpy(rgb[None])))
    ort_scores = np.concatenate(slot_out[:4], 1)[0]
    np.testing.assert_allclose(ort_scores, torch.sigmoid(cls)[0].numpy(), atol=1e-4)

    # export --keep-base pedestrian: with only the head trained, the pedestrian column is again exactly the COCO
    # model's person score, while the trained vehicle column is not the COCO car score any more
    import onnxruntime as ort
    from trafficpipe.training.export import keep_initial_rows
    init_net, _ = build_network(BASE)
    kept = keep_initial_rows(net.state_dict(), init_net.state_dict(), net.head_names, [TRAFFIC_CLASSES.index("pedestrian")])
    init_net.load_state_dict(kept)
    out2 = str(tmp_path / "kept.onnx")
    export_onnx(init_net, BASE, out2, TRAFFIC_CLASSES)
    x = _adapter_input(det, image)
    mine = ort.InferenceSession(out2, providers=["CPUExecutionProvider"]).run(None, {"image": x})
    coco = ort.InferenceSession(BASE, providers=["CPUExecutionProvider"]).run(None, {"image": x})
    for i in range(4):
        np.testing.assert_allclose(mine[i][..., 1], coco[i][..., COCO_CLASSES.index("person")], atol=1e-5)
        np.testing.assert_allclose(mine[i][..., 0], slot_out[i][..., 0], atol=1e-5)  # vehicle: as trained
    assert max(float(np.abs(mine[i][..., 0] - coco[i][..., COCO_CLASSES.index("car")]).max()) for i in range(4)) > 1e-3


def _adapter_input(det, image):
    buf = np.zeros((1,) + det.adapter.input_shape, np.float32)
    det.adapter.preprocess(image, buf[0])
    return buf


@needs_torch
def test_blend_interpolates_floating_weights_only():
    from trafficpipe.training.export import interpolate_weights
    ft = {"w": torch.ones(3), "n": torch.tensor(7)}
    init = {"w": torch.zeros(3), "n": torch.tensor(1)}
    assert torch.allclose(interpolate_weights(ft, init, 0.25)["w"], torch.full((3,), 0.25))
    assert interpolate_weights(ft, init, 0.25)["n"].item() == 7
    assert torch.equal(interpolate_weights(ft, init, 0.0)["w"], init["w"])


def test_shipped_traffic_model_loads_with_its_card(dev_set):
    """The trained model in models/weights (if the project ships one) names its 5 classes in its card, loads through
    its alias and finds the vehicles of a dev frame of the roadside camera it was trained for."""
    import cv2
    from trafficpipe import Detector
    from trafficpipe.eval.dataset import load_dataset
    from trafficpipe.models.registry import find_model
    try:
        path = find_model("trafficpipe-picodet-s-416")
    except Exception:
        pytest.skip("no trained traffic model shipped in trafficpipe/models/weights")
    card = json.load(open(os.path.splitext(path)[0] + ".json"))
    assert card["classes"] == list(TRAFFIC_CLASSES) and card["base_model"]["license"] == "Apache-2.0"
    ds = load_dataset(dev_set).subset(source="kaggle_car_detection")
    im = [i for i in ds.images if len(i.class_ids) >= 2][0]
    with Detector("trafficpipe-picodet-s-416", threads=2) as det:
        assert det.adapter.model_classes == TRAFFIC_CLASSES and det.family == "picodet"
        dets = det.detect(cv2.imread(im.path))
    from trafficpipe.models.nms import box_iou
    cars = dets.boxes[dets.class_ids == 0]
    assert len(cars) and (box_iou(im.boxes.astype(np.float32), cars).max(1) > 0.5).all()
