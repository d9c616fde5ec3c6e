"""Helpers of the score tests: short clips cut from the shared videos, and the comparison of Parquet rows with the
JSON lines of `trafficpipe detect`."""
import json
import os

import numpy as np

#: (shared video, first frame, frames) of each clip: 2 keyframe-aligned segments each at --segment-frames 30
CLIPS = (("highway-360p", 0, 60), ("street-540p", 0, 60), ("highway-360p", 200, 66))


def cut_clips(shared, folder):
    """Write CLIPS as MPEG-4 part 2 MP4 files (OpenCV's mp4v: a keyframe every 12 frames) into `folder`; their paths."""
    import cv2
    paths = []
    for k, (name, first, n) in enumerate(CLIPS):
        cap = cv2.VideoCapture(os.path.join(shared, "videos", name + ".mp4"))
        cap.set(cv2.CAP_PROP_POS_FRAMES, first)
        frames = [cap.read()[1] for _ in range(n)]
        cap.release()
        h, w = frames[0].shape[:2]
        path = os.path.join(str(folder), "%s-%d.mp4" % (name, k))
        out = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (w, h))
        for f in frames:
            out.write(f)
        out.release()
        paths.append(path)
    return paths


def parquet_by_frame(path):
    """{frame: [(class, score, box, track_id)]} of a video's Parquet file (track_id "none" where the file has no such
    column), and its frame count (file metadata)."""
    import pyarrow.parquet as pq
    t = pq.read_table(path)
    meta = json.loads(t.schema.metadata[b"trafficpipe"])
    out = {}
    for r in t.to_pylist():
        out.setdefault(r["frame"], []).append((r["class"], r["score"], r["box"], r.get("track_id", "none")))
    return out, meta["frames"]


def assert_same_as_detect(parquet, jsonl, tol=0.011, until=None):
    """Every frame of the detect JSON lines (those before frame `until` where given) has the same detections in the
    Parquet file (boxes and scores within `tol`: the JSON is rounded to 2 and 4 digits; the same track ids where detect
    tracked, else no track_id column), and the Parquet file has no other frames."""
    rows, frames = parquet_by_frame(parquet)
    lines = [json.loads(ln) for ln in open(jsonl)]
    assert frames == len(lines)
    for rec in lines:
        got = rows.pop(rec["frame"], [])
        if until is not None and rec["frame"] >= until:
            continue
        want = rec["detections"]
        assert len(got) == len(want), "frame %d: %d detections, detect had %d" % (rec["frame"], len(got), len(want))
        for (cls, score, box, track_id), d in zip(got, want):
            assert cls == d["cls"]
            assert abs(score - d["score"]) < tol
            assert np.abs(np.asarray(box) - np.asarray(d["box"])).max() < tol
            assert track_id == d.get("track_id", "none"), "frame %d: track id %s, detect had %s" % (
                rec["frame"], track_id, d.get("track_id", "none"))
    assert not rows, "frames not in the video: %s" % sorted(rows)
