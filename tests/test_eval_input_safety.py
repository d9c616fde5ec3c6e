"""`trafficpipe eval` on damaged input: annotations with the wrong JSON types, boxes off the image, one image listed
under two spellings, unreadable images, colliding result names, and output folders holding the user's own files.
Each is refused with one line (exit 2) before anything is detected, or handled without losing data."""
import json
import os
import shutil

import pytest

from cli_helpers import one_error_line, run_cli
from trafficpipe.errors import DatasetError, SinkError
from trafficpipe.eval import load_dataset, score_detections, write_report
from trafficpipe.eval.report import check_output_folder, result_file_names
from trafficpipe.eval.runner import check_readable, image_problem
from trafficpipe.eval.sets import load_labeled_set
from trafficpipe.log import logger
from trafficpipe.paths import data_dir

DEV = os.path.join(data_dir(), "data", "traffic-dev")
PETS = os.path.join(data_dir(), "data", "tracking", "pets09_s3mf1")


def kitti_set(folder, mutate=None):
    """A 2-image set in `folder`: the first two KITTI images of traffic-dev with their labels; `mutate(images, folder)`
    changes the records (and files) before annotations.json is written. Returns the folder."""
    with open(os.path.join(DEV, "annotations.json")) as f:
        doc = json.load(f)
    ims = [im for im in doc["images"] if im["source"] == "kitti"][:2]
    for im in ims:
        dst = os.path.join(folder, im["image"])
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy(os.path.join(DEV, im["image"]), dst)
    if mutate is not None:
        mutate(ims, folder)
    with open(os.path.join(folder, "annotations.json"), "w") as f:
        json.dump({"classes": doc["classes"], "images": ims}, f)
    return folder


def refused(tmp_path, mutate, check_images=True):
    """The DatasetError message loading the mutated set gives (it must give one, on one line)."""
    d = kitti_set(str(tmp_path / "set"), mutate)
    with pytest.raises(DatasetError) as e:
        load_dataset(d, check_images=check_images)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def cli_refuses(*args):
    p = run_cli("eval", *(list(args) + ["--no-plots", "--no-progress", "--model", "picodet-s-320"]))
    assert p.returncode == 2, p.stderr
    line = one_error_line(p)
    assert line.startswith("trafficpipe: error:")
    return line, p.stderr


@pytest.fixture
def warnings():
    got = []
    sink = logger.add(lambda m: got.append(str(m)), level="WARNING")
    yield got
    logger.remove(sink)


# 1. one image under two spellings -------------------------------------------------------------------------------------

def test_one_image_under_two_spellings_is_listed_twice(tmp_path):
    def dup(ims, _):
        ims.append(dict(ims[0], image="./" + ims[0]["image"]))
    msg = refused(tmp_path, dup)
    assert "image ./images/kitti/000000.jpg is listed twice" in msg and "as images/kitti/000000.jpg" in msg

    def dup2(ims, _):
        ims.append(dict(ims[1], image=ims[1]["image"].replace("kitti/", "kitti/../kitti/")))
    assert "listed twice" in refused(tmp_path / "b", dup2)


# 2. difficult must be a boolean, coordinates numbers ------------------------------------------------------------------

@pytest.mark.parametrize("value", ["false", 0, 1, None, "true"])
def test_difficult_must_be_a_json_boolean(tmp_path, value):
    def m(ims, _):
        ims[0]["boxes"][0]["difficult"] = value
    msg = refused(tmp_path, m)
    assert "image images/kitti/000000.jpg: box 0: \"difficult\" must be true or false" in msg, msg


@pytest.mark.parametrize("xyxy", [[True, True, 5, 5], ["1", 2, 5, 5], [1, 2, 5], [1, 2, 5, None], "1,2,5,5"])
def test_box_coordinates_must_be_numbers(tmp_path, xyxy):
    def m(ims, _):
        ims[1]["boxes"].append({"cls": "vehicle", "xyxy": xyxy, "difficult": False})
    msg = refused(tmp_path, m)
    n = len([im for im in json.load(open(os.path.join(DEV, "annotations.json")))["images"]
             if im["source"] == "kitti"][1]["boxes"])
    assert "image images/kitti/000001.jpg: box %d: expected [x1, y1, x2, y2] numbers" % n in msg, msg


def test_difficult_may_be_left_out(tmp_path):
    def m(ims, _):
        del ims[0]["boxes"][0]["difficult"]
    ds = load_dataset(kitti_set(str(tmp_path / "set"), m))
    assert not ds.images[0].difficult[0]


# 3. width/height and boxes off the image -----------------------------------------------------------------------------

@pytest.mark.parametrize("box,what", [([5000, 5000, 6000, 6000], "wholly outside"),
                                      ([-50, -50, -10, -10], "wholly outside"),
                                      ([5, 5, 5, 9], "empty box"), ([9, 5, 5, 9], "empty box")])
def test_a_box_off_its_image_or_empty_is_refused(tmp_path, box, what):
    def m(ims, _):
        ims[0]["boxes"].append({"cls": "vehicle", "xyxy": box, "difficult": False})
    msg = refused(tmp_path, m)
    assert "image images/kitti/000000.jpg: box %d" % 1 in msg and what in msg, msg


def test_an_ignore_region_wholly_off_the_image_is_refused(tmp_path):
    def m(ims, _):
        ims[0]["ignore_regions"] = [[0, 0, 10, 10], [2000, 0, 2100, 10]]
    msg = refused(tmp_path, m)
    assert "image images/kitti/000000.jpg: ignore region 1" in msg and "wholly outside" in msg, msg


def test_boxes_partly_off_the_image_are_clipped_with_one_warning(tmp_path, warnings):
    def m(ims, _):
        w, h = ims[1]["width"], ims[1]["height"]
        ims[0]["boxes"].append({"cls": "vehicle", "xyxy": [-20, -5, 30, 40], "difficult": False})
        ims[1]["boxes"].append({"cls": "pedestrian", "xyxy": [w - 10, h - 10, w + 30, h + 30], "difficult": True})
        ims[1]["ignore_regions"] = [[w - 5, 0, w + 5, 10]]
    ds = load_dataset(kitti_set(str(tmp_path / "set"), m))
    a, b = ds.images
    assert a.boxes[-1].tolist() == [0, 0, 30, 40]
    assert b.boxes[-1].tolist() == [b.width - 10, b.height - 10, b.width, b.height]
    assert b.ignore_regions.tolist() == [[b.width - 5, 0, b.width, 10]]
    said = [w for w in warnings if "clipped" in w]
    assert len(said) == 1 and "3 boxes or ignore regions" in said[0] and "images/kitti/000000.jpg, box" in said[0]


@pytest.mark.parametrize("value", ["abc", [1], 0, -5, 12.5, True, 1e400])
def test_width_and_height_must_be_positive_whole_numbers(tmp_path, value):
    def m(ims, _):
        ims[1]["height"] = value
    msg = refused(tmp_path, m)
    assert "image images/kitti/000001.jpg: \"height\" must be a positive whole number of pixels" in msg, msg


def test_a_missing_width_or_height_is_read_from_the_image(tmp_path):
    with open(os.path.join(DEV, "annotations.json")) as f:
        want = [(im["width"], im["height"]) for im in json.load(f)["images"] if im["source"] == "kitti"][:2]

    def m(ims, _):
        del ims[0]["width"], ims[1]["height"]
    ds = load_dataset(kitti_set(str(tmp_path / "set"), m))
    assert [(im.width, im.height) for im in ds.images] == want

    def off(ims, folder):
        m(ims, folder)
        ims[0]["boxes"].append({"cls": "vehicle", "xyxy": [5000, 0, 5100, 10], "difficult": False})
    msg = refused(tmp_path / "off", off)  # the size read from the image still bounds the boxes
    assert "wholly outside the %dx%d image" % want[0] in msg


# 4. wrong JSON types: one line, exit 2 --------------------------------------------------------------------------------

@pytest.mark.parametrize("field,value,needle", [
    ("width", "abc", "\"width\" must be a positive whole number"),
    ("width", [1], "\"width\" must be a positive whole number"),
    ("ignore_regions", 5, "\"ignore_regions\" must be a list of [x1, y1, x2, y2] boxes, got 5"),
    ("ignore_regions", "abc", "\"ignore_regions\" must be a list of [x1, y1, x2, y2] boxes, got 'abc'"),
    ("ignore_regions", [[1, 2]], "ignore region 0: expected [x1, y1, x2, y2] numbers"),
    ("boxes", {"cls": "vehicle"}, "\"boxes\" must be a list"),
    ("source", 5, "\"source\" must be a name"),
    ("exhaustive", "vehicle", "\"exhaustive\" must be a list of class names"),
])
def test_wrong_json_types_are_one_line_errors(tmp_path, field, value, needle):
    def m(ims, _):
        ims[0][field] = value
    msg = refused(tmp_path, m)
    assert "image images/kitti/000000.jpg" in msg and needle in msg, msg


def test_wrong_json_types_exit_2_with_one_line_before_the_model_loads(tmp_path):
    def m(ims, _):
        ims[0]["width"] = "abc"
        ims[1]["ignore_regions"] = 5
    d = kitti_set(str(tmp_path / "set"), m)
    line, err = cli_refuses(d, "--out", str(tmp_path / "out"))
    assert "\"width\" must be a positive whole number of pixels, got 'abc'" in line
    assert not os.path.exists(str(tmp_path / "out"))


# 5. unreadable images -------------------------------------------------------------------------------------------------

def _damage(kind):
    def m(ims, folder):
        path = os.path.join(folder, ims[1]["image"])
        data = open(path, "rb").read()
        if kind == "notajpeg":
            data = b"notajpeg"
        elif kind == "truncated":
            data = data[:len(data) // 2]
        elif kind == "empty":
            data = b""
        elif kind == "not an image":
            ims[1]["image"] = "annotations.json"
            return
        with open(path, "wb") as f:
            f.write(data)
    return m


@pytest.mark.parametrize("kind,why", [("notajpeg", "unreadable or not an image"), ("truncated", "cut short"),
                                      ("empty", "the file is empty"), ("not an image", "not an image")])
def test_unreadable_images_are_named_before_detection(tmp_path, kind, why):
    d = kitti_set(str(tmp_path / "set"), _damage(kind))
    ds = load_dataset(d)
    with pytest.raises(DatasetError) as e:
        check_readable(ds)
    name = "annotations.json" if kind == "not an image" else "images/kitti/000001.jpg"
    assert "1 of 2 images cannot be read: %s (" % name in str(e.value) and why in str(e.value)


def test_a_cut_png_is_unreadable_and_a_whole_one_is_not(tmp_path):
    import cv2
    src = os.path.join(DEV, "images", "kitti", "000000.jpg")
    whole = str(tmp_path / "a.png")
    cv2.imwrite(whole, cv2.imread(src)[:64, :64])
    assert image_problem(whole) is None and image_problem(src) is None
    cut = str(tmp_path / "b.png")
    with open(cut, "wb") as f:
        f.write(open(whole, "rb").read()[:-20])
    assert "cut short" in image_problem(cut)
    assert "cannot open" in image_problem(str(tmp_path / "nope.png"))


def test_eval_on_a_set_with_a_corrupt_image_exits_2_naming_it_before_detecting(tmp_path):
    d = kitti_set(str(tmp_path / "set"), _damage("notajpeg"))
    line, err = cli_refuses(d, "--out", str(tmp_path / "out"))
    assert "images/kitti/000001.jpg (unreadable or not an image)" in line and "distinct image" not in line
    assert "connecting" not in err  # the pipeline never started
    assert not os.path.exists(str(tmp_path / "out"))


# 6. detection-results names -------------------------------------------------------------------------------------------

def test_result_file_names_are_unique_and_deterministic():
    cases = [
        (["images/a/1.jpg", "images/b/2.jpg"], ["1", "2"]),
        (["seqA/img1/000001.jpg", "seqB/img1/000001.jpg", "seqA/img1/000002.jpg"],
         ["seqA_img1_000001", "seqB_img1_000001", "seqA_img1_000002"]),
        (["a/x/1.jpg", "b/x/1.jpg"], ["a_x_1", "b_x_1"]),
        (["x.jpg", "x.png"], ["x_jpg", "x_png"]),
        (["d/X.jpg", "d/x.jpg"], ["d_X_jpg", "d_x_jpg_1"]),
        (["a_b/c.jpg", "a/b_c.jpg"], ["c", "b_c"]),
        (["a_b/c.jpg", "a/b_c.jpg", "c.jpg"], ["a_b_c_jpg", "a_b_c_jpg_1", "c"]),
        (["./images/x.jpg", "images/y.jpg"], ["x", "y"]),
        (["x.jpg", "x.jpg"], ["x_jpg", "x_jpg_1"]),
    ]
    for names, want in cases:
        got = result_file_names(names)
        assert got == want, (names, got)
        assert len(set(g.lower() for g in got)) == len(got) and result_file_names(list(names)) == got
        assert not any("/" in g or "\\" in g for g in got)


def _mot_folder(tmp_path):
    root = str(tmp_path / "motr")
    for s in ("A", "B"):
        seq = os.path.join(root, "seq" + s)
        os.makedirs(os.path.join(seq, "img1"))
        os.makedirs(os.path.join(seq, "gt"))
        for k in (1, 2):
            shutil.copy(os.path.join(PETS, "img1", "%06d.jpg" % k), os.path.join(seq, "img1"))
        ini = open(os.path.join(PETS, "seqinfo.ini")).read()
        ini = "\n".join("seqLength=2" if l.startswith("seqLength=") else "name=SEQ-" + s if l.startswith("name=")
                        else l for l in ini.splitlines()) + "\n"
        open(os.path.join(seq, "seqinfo.ini"), "w").write(ini)
        rows = [l for l in open(os.path.join(PETS, "gt", "gt.txt")) if int(l.split(",")[0]) <= 2]
        open(os.path.join(seq, "gt", "gt.txt"), "w").write("".join(rows))
    return root


def test_several_mot_sequences_write_one_result_file_per_frame(tmp_path):
    ds = load_labeled_set(_mot_folder(tmp_path))
    assert len(ds) == 4
    names = [im.image for im in ds.images]
    res = score_detections(ds, [([], [], [])] * 4)
    res.detections, res.image_names = [([], [], [])] * 4, names
    out = str(tmp_path / "out")
    write_report(res, out, plots=False)
    txt = sorted(os.listdir(os.path.join(out, "detection-results")))
    assert txt == ["seqA_img1_000001.txt", "seqA_img1_000002.txt", "seqB_img1_000001.txt", "seqB_img1_000002.txt"]


# 7. the output folder: a user's files are never removed ---------------------------------------------------------------

def _result(tmp_path):
    ds = load_dataset(kitti_set(str(tmp_path / "set")))
    res = score_detections(ds, [([], [], [])] * 2)
    res.detections, res.image_names = [([], [], [])] * 2, [im.image for im in ds.images]
    return res


def test_a_rerun_keeps_the_users_files_and_removes_only_its_own(tmp_path):
    res = _result(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    for name in ("pr_mynotes.png", "notes.txt", "report.json.bak", "pr_.png"):
        (out / name).write_text("mine")
    (out / "pr_truck.png").mkdir()
    (out / "pr_vehicle.png").write_text("an earlier eval's plot")  # a class this run does not plot
    (out / "detection-results").mkdir()
    (out / "detection-results" / "old.txt").write_text("an earlier eval's detections")
    write_report(res, str(out), plots=False)
    left = sorted(os.listdir(str(out)))
    assert left == ["detection-results", "notes.txt", "pr_.png", "pr_mynotes.png", "pr_truck.png", "report.json",
                    "report.json.bak", "table.txt"]
    assert (out / "pr_mynotes.png").read_text() == "mine"
    assert sorted(os.listdir(str(out / "detection-results"))) == ["000000.txt", "000001.txt"]


def _user_entry(out, kind):
    """Put in `out` something of the user's where eval writes: a file detection-results, a sub-folder or a non-.txt
    file in detection-results/, a folder report.json."""
    if kind == "file":
        out.joinpath("detection-results").write_text("mine")
    elif kind == "subfolder":
        out.joinpath("detection-results", "sub").mkdir(parents=True)
    elif kind == "csv":
        out.joinpath("detection-results").mkdir()
        out.joinpath("detection-results", "a.csv").write_text("mine")
    else:
        out.joinpath("report.json").mkdir()


@pytest.mark.parametrize("kind,needle", [
    ("file", "holds detection-results, which is not the folder"), ("subfolder", "with sub in it"),
    ("csv", "with a.csv in it"), ("report folder", "holds a folder named report.json")])
def test_an_output_folder_holding_what_eval_would_destroy_is_refused(tmp_path, kind, needle):
    out = tmp_path / "out"
    out.mkdir()
    _user_entry(out, kind)
    before = sorted(os.listdir(str(out)))
    with pytest.raises(SinkError) as e:
        check_output_folder(str(out))
    assert needle in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(SinkError):
        write_report(_result(tmp_path), str(out), plots=False)
    assert sorted(os.listdir(str(out))) == before


def test_an_out_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "f"
    f.write_text("mine")
    with pytest.raises(SinkError, match="is a file, not a folder"):
        check_output_folder(str(f))
    with pytest.raises(SinkError, match="is a file, not a folder"):
        check_output_folder(str(f / "sub"))
    check_output_folder(str(tmp_path / "new" / "deeper"))  # not there yet: fine, nothing created
    assert not os.path.exists(str(tmp_path / "new"))


def test_eval_refuses_a_detection_results_file_in_out_before_detecting(tmp_path):
    d = kitti_set(str(tmp_path / "set"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "detection-results").write_text("mine")
    line, err = cli_refuses(d, "--out", str(out))
    assert "holds detection-results, which is not the folder eval writes there" in line
    assert "connecting" not in err
    assert (out / "detection-results").read_text() == "mine" and os.listdir(str(out)) == ["detection-results"]
