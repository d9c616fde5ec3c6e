"""The library's Detector API on real traffic-dev images: images and arguments checked with one-line errors, one
Detector shared by threads, use after close, a pathlib.Path model, the README's default engine."""
import glob
import inspect
import os
import pathlib
import re
import threading

import cv2
import numpy as np
import pytest

from trafficpipe import Detector
from trafficpipe.detector import DetectorError, _image_problem
from trafficpipe.engines.factory import create_engine
from trafficpipe.errors import TrafficpipeError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def images(dev_set):
    """Two real frames of different sizes: a KITTI one (wide) and a traffic-camera one."""
    paths = [sorted(glob.glob(os.path.join(dev_set, "images", d, "*.jpg")))[0]
             for d in ("kitti", "car_counter_roboflow")]
    out = [cv2.imread(p) for p in paths]
    assert all(im is not None and im.ndim == 3 for im in out)
    assert out[0].shape != out[1].shape
    return out


@pytest.fixture(scope="module")
def det():
    d = Detector("picodet-s-320", threads=1)
    yield d
    d.close()


def same(a, b):
    return (np.array_equal(a.boxes, b.boxes) and np.array_equal(a.scores, b.scores)
            and np.array_equal(a.class_ids, b.class_ids))


def one_line(excinfo):
    text = str(excinfo.value)
    assert text and "\n" not in text, text
    return text


# -- 1. images --------------------------------------------------------------------------------------------------------
BAD_IMAGES = [
    ("none", lambda im: None, "got None"),
    ("gray", lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2GRAY), "got shape (%d, %d)"),
    ("gray-1", lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2GRAY)[:, :, None], "got shape (%d, %d, 1)"),
    ("bgra", lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2BGRA), "got shape (%d, %d, 4)"),
    ("empty", lambda im: np.zeros((0, 0, 3), np.uint8), "got an empty image"),
    ("list", lambda im: im.tolist(), "got list"),
    ("str", lambda im: "street.jpg", "got the path 'street.jpg'"),
    ("path", lambda im: pathlib.Path("street.jpg"), "got the path 'street.jpg'"),
    ("bool", lambda im: im > 100, "got bool"),
    ("float01", lambda im: im.astype(np.float32) / 255, "got float32"),
    ("uint16", lambda im: im.astype(np.uint16) * 256, "got uint16"),
    ("batch", lambda im: np.stack([im, im]), "got shape (2, %d, %d, 3)"),
]


@pytest.mark.parametrize("name,make,expect", BAD_IMAGES, ids=[b[0] for b in BAD_IMAGES])
def test_detect_refuses_what_is_no_bgr_uint8_image_in_one_line(det, images, name, make, expect):
    image = make(images[0])
    if "%d" in expect:
        expect = expect % images[0].shape[:2]
    with pytest.raises(DetectorError) as e:
        det.detect(image)
    text = one_line(e)
    assert isinstance(e.value, TrafficpipeError) and isinstance(e.value, ValueError)
    assert text.startswith("expected a BGR uint8 image of shape (H, W, 3), ") and expect in text, text
    with pytest.raises(DetectorError, match=r"^image 1 of the batch: expected a BGR uint8 image"):
        det.detect_batch([images[0], image])


def test_a_pil_image_is_refused_with_the_way_to_convert_it(det, images):
    Image = pytest.importorskip("PIL.Image")
    with pytest.raises(DetectorError, match="got a PIL image .*COLOR_RGB2BGR"):
        det.detect(Image.fromarray(images[0][:, :, ::-1]))


def test_detect_batch_takes_a_list_a_tuple_an_iterator_or_an_n_h_w_3_array(det, images):
    img = images[0]
    ref = det.detect(img)
    assert len(ref) > 0
    stacked = np.stack([img, img, img])
    for batch in ([img, img, img], (img, img, img), iter([img, img, img]), stacked):
        got = det.detect_batch(batch)
        assert len(got) == 3 and all(same(g, ref) for g in got)
    assert det.detect_batch([]) == [] and det.detect_batch(np.zeros((0, 5, 5, 3), np.uint8)) == []
    # a non-contiguous view (a crop, as tiling makes) is a fine image
    h, w = img.shape[:2]
    assert det.detect(img[:, w // 4:w // 2]) is not None


@pytest.mark.parametrize("batch,expect", [
    (None, "got None"),
    ("street.jpg", "got str"),
    (42, "got int"),
    ("image", "one image: use detect"),
    ("float-batch", "image 0 of the batch: expected a BGR uint8 image of shape (H, W, 3), got float32"),
])
def test_detect_batch_refuses_what_is_no_batch_of_images(det, images, batch, expect):
    if batch == "image":
        batch = images[0]
    elif batch == "float-batch":
        batch = np.stack([images[0], images[0]]).astype(np.float32)
    with pytest.raises(DetectorError) as e:
        det.detect_batch(batch)
    assert expect in one_line(e)


def test_frames_of_other_array_libraries_pass_the_check():
    """GPU-decoded frames (torch/cupy arrays on the device) are no numpy arrays: the check leaves them to the engines
    that take them instead of refusing them."""
    class DeviceFrame(object):
        shape = (720, 1280, 3)
        dtype = "uint8"
    assert _image_problem(DeviceFrame()) == ""
    assert _image_problem(np.zeros((4, 4, 3), np.uint8)) == ""


# -- 2. constructor arguments -----------------------------------------------------------------------------------------
BAD_ARGS = [
    (dict(conf=-1), "conf: must be between 0 and 1, got -1"),
    (dict(conf=1.5), "conf: must be between 0 and 1"),
    (dict(conf=float("nan")), "conf: expected a finite number"),
    (dict(conf="abc"), "conf: expected a number, got 'abc'"),
    (dict(conf=None), "conf: expected a number between 0 and 1, got None"),
    (dict(conf=True), "conf: expected a number between 0 and 1, got True"),
    (dict(iou=-1), "iou: must be between 0 and 1, got -1"),
    (dict(iou=2), "iou: must be between 0 and 1, got 2"),
    (dict(max_det=-1), "max_det: must be 1 or more, got -1"),
    (dict(max_det=0), "max_det: must be 1 or more, got 0"),
    (dict(max_det=2.5), "max_det: expected a whole number, got 2.5"),
    (dict(classes=[0]), "classes: expected traffic class names"),
    (dict(classes=5), "classes: expected traffic class names"),
    (dict(classes=["vehicle", "unicorn"]), "unknown class name 'unicorn'"),
    (dict(confidence=0.5), "Detector got unknown keyword argument 'confidence' (did you mean conf?); it takes model, "
                           "engine, precision, classes, conf, iou, arch, threads, max_det and the engine options "),
]


@pytest.mark.parametrize("kwargs,expect", BAD_ARGS, ids=[repr(k) for k, _ in BAD_ARGS])
def test_bad_constructor_arguments_are_one_line_errors(kwargs, expect):
    with pytest.raises(TrafficpipeError) as e:
        Detector("picodet-s-320", threads=1, **kwargs)
    assert expect in one_line(e)


def test_arguments_are_checked_before_anything_loads():
    """A bad threshold or keyword is reported as itself, not as the missing model it would have met later."""
    with pytest.raises(TrafficpipeError, match="^iou: "):
        Detector("no-such-model", iou=-1)
    with pytest.raises(TrafficpipeError, match="'confidence'"):
        Detector("no-such-model", confidence=0.5)
    with pytest.raises(TrafficpipeError, match="unknown class name 'unicorn'"):
        Detector("no-such-model", classes="vehicle,unicorn")


def test_good_arguments_in_their_other_spellings_still_work(images):
    ref = None
    with Detector("picodet-s-320", threads=1, conf="0.3", iou=np.float64(0.45), max_det=np.int64(300),
                  classes=("vehicle", "pedestrian"), cuda_graphs=False) as d:  # cuda_graphs: a torch engine option
        ref = d.detect(images[0])
        assert d.adapter.max_det == 300 and d.adapter.conf == 0.3
    with Detector("picodet-s-320", threads=1, max_det=1) as d:  # max_det=1 keeps exactly one
        assert len(d.detect(images[0])) == 1
    assert len(ref) > 0


def test_create_engine_names_an_unknown_option(shared):
    with pytest.raises(TrafficpipeError, match="create_engine got unknown keyword argument 'thread'"):
        create_engine("onnxruntime", os.path.join(shared, "models", "picodet_s_320_coco.onnx"), thread=1)


# -- 3. threads -------------------------------------------------------------------------------------------------------
def test_one_detector_shared_by_three_threads_gives_the_single_thread_results(images):
    """Three threads on one Detector, each calling detect_batch with batches of 1..4 images (the execution context
    is rebuilt when a larger batch comes): every result is the single-thread one."""
    batches = [[images[i % 2] for i in range(n)] for n in (1, 2, 3, 4)]
    with Detector("picodet-s-320", threads=1) as d:
        ref = [d.detect(im) for im in images]
        errors, checked = [], []

        def work(k):
            try:
                for r in range(6):
                    batch = batches[(k + r) % 4]
                    got = d.detect_batch(batch)
                    assert len(got) == len(batch)
                    for i, g in enumerate(got):
                        assert same(g, ref[i % 2]), "thread %d round %d image %d differs" % (k, r, i)
                    checked.append(len(got))
            except BaseException as e:  # noqa: BLE001 - reported by the main thread
                errors.append("%s: %s" % (type(e).__name__, e))

        threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads)
        assert errors == []
        assert len(checked) == 18


def test_the_docstring_says_a_detector_may_be_shared_by_threads():
    assert "shared by several threads" in Detector.__doc__ and "serialized" in Detector.__doc__


# -- 4. close ---------------------------------------------------------------------------------------------------------
def test_a_closed_detector_says_so(images):
    d = Detector("picodet-s-320", threads=1)
    assert len(d.detect_batch([images[0]])) == 1
    d.close()
    for call in (lambda: d.detect(images[0]), lambda: d.detect_batch([images[0], images[0]]),
                 lambda: d.detect_batch([])):
        with pytest.raises(DetectorError) as e:
            call()
        assert one_line(e) == "this Detector is closed"
    d.close()  # twice: harmless
    assert d.closed


# -- 5. pathlib --------------------------------------------------------------------------------------------------------
def test_a_pathlib_model_path_is_taken(shared, images, det):
    path = pathlib.Path(shared) / "models" / "picodet_s_320_coco.onnx"
    with Detector(path, threads=1) as d:
        assert d.model_path == str(path) and isinstance(d.model_path, str)
        assert same(d.detect(images[0]), det.detect(images[0]))
    with pytest.raises(TrafficpipeError, match="does not exist"):
        Detector(pathlib.Path(shared) / "models" / "nope.onnx")
    with pytest.raises(TrafficpipeError, match="model must be a path, a model file name or a model name, got int"):
        Detector(3)


# -- 6. README ---------------------------------------------------------------------------------------------------------
def test_the_readme_names_the_default_engine():
    default = inspect.signature(Detector.__init__).parameters["engine"].default
    with open(os.path.join(ROOT, "README.md")) as f:
        line = [ln for ln in f if ln.startswith('detector = Detector("yolox-nano")')][0]
    assert re.search(r'# engine="%s"' % default, line), line
