"""Counting: synthetic tracks across a line (per direction, once per track), zones, bad --count specs, and the
highway clip with a line across the lanes (stable counts, each vehicle once)."""
import json

import numpy as np
import pytest

from cli_helpers import read_frames, run_cli
from trafficpipe.counting import CountSpecError, check_in_frame, parse_count_specs
from trafficpipe.counting.counters import LineCounter, ZoneCounter
from trafficpipe.counting.step import CountStep
from trafficpipe.models.detections import Detections
from trafficpipe.pipeline.frame import Frame


def _frame(i, boxes, ids, cls=0):
    f = Frame(0, i, 0.0, None, pts=i / 10.0)
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    f.detections = Detections(b, np.full(len(b), 0.9, np.float32), np.full(len(b), cls, np.int32),
                              np.asarray(ids, np.int64))
    return f


def _box_at(x, y):  # bottom centre at (x, y)
    return [x - 10, y - 30, x + 10, y]


def test_back_and_forth_counts_per_direction(tmp_path):
    """A line drawn left to right at y=100: track 1 goes down, up and down again (in once, out once: each track
    counts once per direction), track 2 goes down once, track 3 jitters on the line, track 4 crosses beside the
    segment."""
    line = parse_count_specs(["gate=50,100,250,100"])
    step = CountStep(line, str(tmp_path / "counts.json"), "synthetic", lambda f: f.pts)
    ys1 = [60, 80, 95, 105, 120, 140, 120, 98, 80, 60, 90, 110, 130]
    ys2 = [40, 70, 99, 101, 130, 160, 180, 190, 195, 198, 199, 199, 199]
    ys3 = [99, 101, 99.5, 100.5, 99, 101, 100, 99, 101, 100, 99, 101, 100]
    crossings = []
    for i in range(len(ys1)):
        f = _frame(i, [_box_at(100, ys1[i]), _box_at(200, ys2[i]), _box_at(150, ys3[i]), _box_at(400, ys1[i])],
                   [1, 2, 3, 4])
        step.process(f)
        crossings.extend(f.extra.get("crossings", []))
        counts = f.extra["counts"]["lines"]["gate"]
    assert counts == {"in": {"vehicle": 2}, "out": {"vehicle": 1}}
    assert sorted((c["track_id"], c["dir"]) for c in crossings) == [(1, "in"), (1, "out"), (2, "in")]
    step.close()
    summary = json.loads((tmp_path / "counts.json").read_text())
    assert summary["lines"]["gate"]["total"] == 3 and summary["frames"] == len(ys1)


def test_direction_follows_the_line_orientation():
    """The same downward motion is `out` for the line drawn right to left."""
    a, b = parse_count_specs(["a=0,100,300,100", "b=300,100,0,100"])
    ca, cb = LineCounter(a), LineCounter(b)
    for i, y in enumerate((80, 120)):
        pts = np.array([[150.0, y]])
        ea = ca.update([7], pts, ["pedestrian"], i)
        eb = cb.update([7], pts, ["pedestrian"], i)
    assert ea == [(7, "in", "pedestrian")] and eb == [(7, "out", "pedestrian")]


def test_zone_occupancy_and_dwell():
    zone = parse_count_specs(["zone:lot=0,0,100,0,100,100,0,100"])[0]
    zc = ZoneCounter(zone)
    xs = {1: [50, 50, 50, 150, 150], 2: [150, 50, 50, 50, 50]}
    for k in range(5):
        occ = zc.update([1, 2], np.array([[xs[1][k], 50.0], [xs[2][k], 50.0]]), ["vehicle", "pedestrian"], k * 0.5)
        if k == 2:
            assert occ == {"vehicle": 1, "pedestrian": 1}
    s = zc.summary()
    dwell = {d["track_id"]: d["dwell_s"] for d in s["dwell"]}
    assert dwell == {1: 1.0, 2: 1.5} and s["visits"] == {"vehicle": 1, "pedestrian": 1}
    assert s["max_occupancy"] == {"vehicle": 1, "pedestrian": 1}


def test_zone_membership_is_opencvs_point_polygon_test_boundary_included():
    """inside_polygon against cv2.pointPolygonTest (>= 0: inside or on the boundary) on random points, the polygon's
    vertices and points on its edges, for a frame-bottom zone, a triangle and a concave polygon."""
    import cv2
    from trafficpipe.counting.counters import inside_polygon
    rng = np.random.RandomState(0)
    polygons = [[[0, 500], [1280, 500], [1280, 720], [0, 720]], [[10, 10], [300, 40], [120, 250]],
                [[0, 0], [200, 0], [200, 200], [100, 80], [0, 200]]]
    for poly in polygons:
        poly = np.array(poly, np.float64)
        edges = [poly[k] + f * (poly[(k + 1) % len(poly)] - poly[k]) for k in range(len(poly))
                 for f in (0.0, 0.25, 0.5, 1.0)]
        points = np.vstack([rng.uniform(-50, 1330, (400, 2)), np.array(edges)])
        contour = poly.astype(np.float32).reshape(-1, 1, 2)
        expected = [cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in points]
        assert inside_polygon(points, poly).tolist() == expected
    # a box clipped to the 1280x720 frame has its anchor (bottom centre) on the frame's bottom edge
    assert inside_polygon(np.array([[640.0, 720.0]]), np.array(polygons[0], np.float64)).tolist() == [True]


@pytest.mark.parametrize("spec,message", [
    ("a=1,2,3", "odd number"),
    ("a=1,2,3,4,5,6", "a line takes 4 numbers"),
    ("a=1,x,3,4", "must be numbers"),
    ("a=5,5,5,5", "same"),
    ("zone:z=1,2,3,4", "at least 3 points"),
    ("zone:z=0,0,10,10,20,20", "no area"),
    ("zone:z=0,0,100,100,100,0,0,100", r"no area \(its points lie on one line, or its edges cross"),
    ("a=nan,1,3,4", "must be finite numbers"), ("a=0,1,inf,4", "must be finite numbers"),
    ("a b=1,2,3,4", "may not hold"),
])
def test_bad_specs(spec, message):
    with pytest.raises(CountSpecError, match=message):
        parse_count_specs([spec])


def test_duplicate_names_and_outside_frame():
    with pytest.raises(CountSpecError, match="used twice"):
        parse_count_specs(["a=0,0,10,10", "a=0,5,10,5"])
    with pytest.raises(CountSpecError, match="outside"):
        check_in_frame(parse_count_specs(["a=0,450,1300,450"]), 1280, 720, "cam")


@pytest.mark.parametrize("spec,message", [("main=0,450,1281,450", "outside highway-720p's 1280x720 frame"),
                                          ("main=0,450,1280", "odd number")])
def test_cli_bad_count_one_line_nothing_written(video_720p, tmp_path, spec, message):
    r = run_cli("detect", video_720p, "--out", tmp_path / "out", "--count", spec, "--max-frames", "5")
    assert r.returncode == 2
    errors = [l for l in r.stderr.splitlines() if l.startswith("trafficpipe: error:")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()


def _run_counted(video, out):
    r = run_cli("detect", video, "--out", out, "--max-frames", "120", "--count", "lanes=0,450,1280,450",
                "--count", "zone:near=0,500,1280,500,1280,720,0,720", "--no-progress")
    assert r.returncode == 0, r.stderr
    return json.loads((out / "highway-720p.counts.json").read_text())


def test_highway_line_counts_agree_with_every_output(video_720p, tmp_path):
    """The highway clip, a line across every lane at y=450 (vehicles drive down the picture, towards the camera, on
    the left carriageway): every crossing is a different track, and the JSON lines, MOTChallenge file, track summary
    and video agree with the counts. (That two runs give the same tracks is shown by test_score's tracked runs.)"""
    a = _run_counted(video_720p, tmp_path / "a")
    lanes = a["lines"]["lanes"]
    assert lanes["in"].get("vehicle", 0) >= 4 and lanes["total"] == sum(lanes["in"].values()) + sum(
        lanes["out"].values())
    recs = [json.loads(l) for l in (tmp_path / "a" / "highway-720p.jsonl").read_text().splitlines()]
    assert len(recs) == 120
    crossings = [c for r in recs for c in r.get("crossings", [])]
    keys = [(c["track_id"], c["dir"]) for c in crossings]
    assert len(keys) == len(set(keys)) == lanes["total"]  # each track once per direction
    assert recs[-1]["counts"]["lines"]["lanes"] == {"in": lanes["in"], "out": lanes["out"]}
    tracked = [d for r in recs for d in r["detections"] if d["track_id"] is not None]
    assert tracked and all(d["score"] >= 0.1 for d in tracked)
    assert all(d["score"] >= 0.3 for r in recs for d in r["detections"] if d["track_id"] is None)
    # the counted tracks are real vehicle tracks, seen over several frames
    tracks = {t["id"]: t for t in json.loads((tmp_path / "a" / "highway-720p.tracks.json").read_text())["tracks"]}
    for c in crossings:
        assert tracks[c["track_id"]]["cls"] == "vehicle" and tracks[c["track_id"]]["frames"] >= 5
    mot = np.loadtxt(str(tmp_path / "a" / "highway-720p.mot.txt"), delimiter=",")
    assert mot.shape[1] == 10 and mot[:, 0].min() >= 1 and mot[:, 0].max() <= 120
    assert set(mot[:, 1].astype(int)) == set(tracks)
    near = a["zones"]["near"]
    assert near["max_occupancy"].get("vehicle", 0) >= 1 and all(d["dwell_s"] >= 0 for d in near["dwell"])
    assert len(read_frames(tmp_path / "a" / "highway-720p.mp4")) == 120
