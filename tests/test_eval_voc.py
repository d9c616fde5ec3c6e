"""VOC AP50 (all-point) and the dataset's scoring rules on hand-computed cases."""
import numpy as np
import pytest

from eval_cases import dets, write_dataset
from trafficpipe.eval import score_detections
from trafficpipe.eval.voc import voc_ap
from trafficpipe.models.detections import Detections

A = (0, 0, 100, 100)
B = (200, 0, 300, 100)
C = (400, 0, 500, 100)
FAR = (600, 300, 640, 400)


def test_voc_ap_all_point_interpolation():
    # recall steps 0->.5 at precision 1, .5->1 at precision .5: .5*1 + .5*.5
    assert voc_ap(np.array([0.5, 1.0]), np.array([1.0, 0.5])) == pytest.approx(0.75)
    # a dip in precision is filled by the envelope from the right
    assert voc_ap(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3.0])) == pytest.approx(0.5 + 0.5 * 2 / 3.0)


def test_hand_computed_curve_and_best_f1(tmp_path):
    ds = write_dataset(str(tmp_path), [
        {"name": "a", "boxes": [("vehicle", A), ("vehicle", B)]},
        {"name": "b", "boxes": [("vehicle", C)]},
    ])
    # TP .9, FP .8, TP .7, FP .6 with 3 ground-truth boxes
    r = score_detections(ds, [dets(("vehicle", .9, A), ("vehicle", .8, FAR)),
                              dets(("vehicle", .7, C), ("vehicle", .6, FAR))])
    v = r.classes["vehicle"]
    assert v.ap50 == pytest.approx(1 / 3.0 + 1 / 3.0 * 2 / 3.0)  # 5/9
    assert v.gt == 3 and v.images == 2 and v.detections == 4
    assert v.f1 == pytest.approx(2 / 3.0) and v.threshold == pytest.approx(0.7)
    assert v.precision == pytest.approx(2 / 3.0) and v.recall == pytest.approx(2 / 3.0)
    assert v.max_recall == pytest.approx(2 / 3.0)
    assert r.map50 == pytest.approx(v.ap50)


def test_ties_keep_image_then_detection_order(tmp_path):
    ds = write_dataset(str(tmp_path), [{"name": "a", "boxes": [("vehicle", A)]}])
    fp_first = score_detections(ds, [dets(("vehicle", .5, FAR), ("vehicle", .5, A))]).classes["vehicle"]
    tp_first = score_detections(ds, [dets(("vehicle", .5, A), ("vehicle", .5, FAR))]).classes["vehicle"]
    assert fp_first.ap50 == pytest.approx(0.5)
    assert tp_first.ap50 == pytest.approx(1.0)
    # an operating point cannot split tied scores: both see P=.5, R=1 at .5
    for v in (fp_first, tp_first):
        assert (v.precision, v.recall, v.threshold) == (pytest.approx(0.5), pytest.approx(1.0), pytest.approx(0.5))
    # across images, ties follow the dataset's image order
    empty_first = write_dataset(str(tmp_path / "e1"), [{"name": "a", "boxes": []},
                                                       {"name": "b", "boxes": [("vehicle", A)]}])
    assert score_detections(empty_first, [dets(("vehicle", .5, FAR)), dets(("vehicle", .5, A))]
                            ).ap50("vehicle") == pytest.approx(0.5)
    empty_last = write_dataset(str(tmp_path / "e2"), [{"name": "b", "boxes": [("vehicle", A)]},
                                                      {"name": "a", "boxes": []}])
    assert score_detections(empty_last, [dets(("vehicle", .5, A)), dets(("vehicle", .5, FAR))]).ap50("vehicle") == 1.0


def test_zero_detections_and_all_wrong(tmp_path):
    ds = write_dataset(str(tmp_path), [{"name": "a", "boxes": [("vehicle", A), ("vehicle", B)]}])
    none = score_detections(ds, [dets()]).classes["vehicle"]
    assert none.ap50 == 0.0 and none.ap == 0.0 and none.detections == 0
    assert (none.precision, none.recall, none.f1, none.threshold) == (0.0, 0.0, 0.0, None)
    shifted = (50, 0, 150, 100)  # IoU 1/3 with A
    wrong = score_detections(ds, [dets(("vehicle", .9, FAR), ("vehicle", .8, shifted), ("pedestrian", .95, A))])
    assert wrong.ap50("vehicle") == 0.0 and wrong.classes["vehicle"].ap == 0.0


def test_iou_exactly_half_is_a_hit_and_duplicates_are_false_positives(tmp_path):
    ds = write_dataset(str(tmp_path), [{"name": "a", "boxes": [("vehicle", A)]}])
    assert score_detections(ds, [dets(("vehicle", .9, (0, 0, 100, 50)))]).ap50("vehicle") == 1.0
    dup = score_detections(ds, [dets(("vehicle", .8, (2, 2, 100, 100)), ("vehicle", .9, A))]).classes["vehicle"]
    assert dup.ap50 == 1.0
    assert dup.curve.tp.tolist() == [1, 1] and dup.curve.fp.tolist() == [0, 1]


def test_difficult_boxes_count_neither_way(tmp_path):
    ds = write_dataset(str(tmp_path), [{"name": "a", "boxes": [("vehicle", A), ("vehicle", B, True)]}])
    # detection on the difficult box is ignored, so the curve is FP(.85), TP(.8) over 1 box
    r = score_detections(ds, [dets(("vehicle", .9, B), ("vehicle", .85, FAR), ("vehicle", .8, A))])
    v = r.classes["vehicle"]
    assert (v.gt, v.difficult) == (1, 1)
    assert v.ap50 == pytest.approx(0.5)
    assert v.curve.scores.tolist() == [.85, .8]
    # the same boxes without the difficult flag: TP, FP, TP over 2 boxes
    plain = write_dataset(str(tmp_path / "plain"), [{"name": "a", "boxes": [("vehicle", A), ("vehicle", B)]}])
    assert score_detections(plain, [dets(("vehicle", .9, B), ("vehicle", .85, FAR), ("vehicle", .8, A))]
                            ).ap50("vehicle") == pytest.approx(0.5 + 0.5 * 2 / 3.0)
    # a missed difficult box is not a miss
    assert score_detections(ds, [dets(("vehicle", .9, A))]).classes["vehicle"].max_recall == 1.0


def test_ignore_regions(tmp_path):
    region = (300, 300, 400, 400)
    ds = write_dataset(str(tmp_path), [{"name": "a", "boxes": [("vehicle", A)], "ignore": [region, (0, 0, 200, 200)]}])

    def ap(box):
        return score_detections(ds, [dets(("vehicle", .9, box), ("vehicle", .8, A))]).ap50("vehicle")

    assert ap((310, 310, 390, 390)) == 1.0  # wholly inside: ignored
    assert ap((350, 300, 450, 400)) == 1.0  # half inside: ignored
    assert ap((360, 300, 460, 400)) == pytest.approx(0.5)  # 40% inside: a false positive
    # a hit inside an ignore region stays a hit; a duplicate there is ignored
    v = score_detections(ds, [dets(("vehicle", .9, A), ("vehicle", .8, (1, 1, 99, 99)))]).classes["vehicle"]
    assert v.curve.tp.tolist() == [1] and v.ap50 == 1.0


def test_class_scored_only_where_exhaustive(tmp_path):
    ds = write_dataset(str(tmp_path), [
        {"name": "a", "boxes": [("vehicle", A), ("pedestrian", B), ("bicycle", C)], "exhaustive": ["vehicle"],
         "partial": ["pedestrian", "bicycle"]},
        {"name": "b", "boxes": [("pedestrian", C)], "exhaustive": ["vehicle", "pedestrian", "traffic_light"]},
    ])
    r = score_detections(ds, [
        dets(("vehicle", .9, A), ("pedestrian", .95, FAR), ("pedestrian", .9, B), ("bicycle", .9, C)),
        dets(("pedestrian", .7, C), ("traffic_light", .6, FAR)),
    ])
    ped = r.classes["pedestrian"]
    assert (ped.images, ped.gt, ped.detections) == (1, 1, 1)
    assert ped.ap50 == 1.0  # the unlabeled image's FP and TP do not count
    assert "bicycle" in r.skipped and "road_sign" in r.skipped and "traffic_light" in r.skipped
    assert set(r.classes) == {"vehicle", "pedestrian"}
    assert r.map50 == 1.0
    only = score_detections(ds, [dets(), dets()], classes=["pedestrian"])
    assert set(only.classes) == {"pedestrian"} and only.map50 == 0.0


def test_per_source_breakdown_and_input_forms(tmp_path):
    ds = write_dataset(str(tmp_path), [
        {"name": "a", "source": "s1", "boxes": [("vehicle", A)]},
        {"name": "b", "source": "s2", "boxes": [("vehicle", A)]},
    ])
    by_name = {"images/s1/a.jpg": Detections(np.array([A], np.float32), np.array([.9], np.float32),
                                             np.array([0], np.int32)),
               "images/s2/b.jpg": [{"cls": "vehicle", "score": .95, "box": list(FAR)},
                                   {"cls": "vehicle", "score": .8, "box": list(A)}]}
    r = score_detections(ds, by_name)
    assert r.sources["s1"]["classes"]["vehicle"]["ap50"] == 1.0
    assert r.sources["s2"]["classes"]["vehicle"]["ap50"] == pytest.approx(0.5)
    assert r.sources["s2"]["images"] == 1
    # pooled: FP .95, TP .9, TP .8 over 2 boxes -> recall .5 and 1 both at precision 2/3 (envelope)
    assert r.ap50("vehicle") == pytest.approx(2 / 3.0)  # precision envelope 2/3 over all recall
    d = r.to_dict()
    assert d["overall"]["map50"] == r.map50 and d["classes"]["vehicle"]["gt"] == 2
    with pytest.raises(ValueError, match="no detections given for 1 of 2"):
        score_detections(ds, {"images/s1/a.jpg": []})


def test_report_files_and_missing_matplotlib(tmp_path, monkeypatch):
    import json
    import sys
    from trafficpipe.eval import format_table, write_report
    from trafficpipe.log import logger
    ds = write_dataset(str(tmp_path / "ds"), [{"name": "a", "boxes": [("vehicle", A)]}])
    r = score_detections(ds, [dets(("vehicle", .9, A), ("vehicle", .4, FAR))])
    r.detections, r.image_names = [dets(("vehicle", .9, A), ("vehicle", .4, FAR))], ["images/src/a.jpg"]
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as on a box without matplotlib
    warnings = []
    sink = logger.add(lambda m: warnings.append(m), level="WARNING")
    try:
        written = write_report(r, str(tmp_path / "out"))
    finally:
        logger.remove(sink)
    assert not any(p.endswith(".png") for p in written) and "matplotlib is not installed" in "".join(warnings)
    assert json.load(open(str(tmp_path / "out" / "report.json")))["classes"]["vehicle"]["ap50"] == 1.0
    assert open(str(tmp_path / "out" / "detection-results" / "a.txt")).read() == \
        "vehicle 0.900000 0 0 100 100\nvehicle 0.400000 600 300 640 400\n"
    assert format_table(r).splitlines()[2].split()[:6] == ["vehicle", "1", "1", "0", "2", "1.000"]
