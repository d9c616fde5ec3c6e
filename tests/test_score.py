"""`trafficpipe score`: Parquet rows equal to `detect`'s JSON lines, resumable, a corrupt video marked failed; here
(no Ray) and on a real two-node Ray cluster started on this machine, with a worker killed mid-run."""
import collections
import glob
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from cli_helpers import ROOT, run_cli
from score_helpers import assert_same_as_detect, cut_clips, parquet_by_frame

pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def clips(shared, tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    paths = cut_clips(shared, folder)
    (folder / "corrupt.mp4").write_bytes(b"\0\0\0\x18ftypmp42" + os.urandom(4000))
    return folder, paths


@pytest.fixture(scope="module")
def reference(clips, tmp_path_factory):
    """`trafficpipe detect` JSON lines of the clips, one process."""
    out = tmp_path_factory.mktemp("detect")
    r = run_cli("detect", *clips[1], "--save", "jsonl", "--out", out, "--threads", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    return dict((os.path.basename(p)[:-4], str(out / (os.path.basename(p)[:-4] + ".jsonl"))) for p in clips[1])


@pytest.fixture(scope="module")
def tracked_reference(clips, tmp_path_factory):
    """`trafficpipe detect --track` JSON lines: ByteTrack on the first two clips, OC-SORT on the third."""
    out = tmp_path_factory.mktemp("detect-track")
    for paths, tracker in ((clips[1][:2], "bytetrack"), (clips[1][2:], "ocsort")):
        r = run_cli("detect", *paths, "--track", "--tracker", tracker, "--save", "jsonl", "--out", out, "--threads", "1",
                    "--no-progress")
        assert r.returncode == 0, r.stderr
    return dict((os.path.basename(p)[:-4], str(out / (os.path.basename(p)[:-4] + ".jsonl"))) for p in clips[1])


def check_outputs(out, reference):
    man = json.load(open(os.path.join(str(out), "manifest.json")))
    ok = [v for v in man["videos"] if v["status"] == "ok"]
    assert sorted(os.path.basename(v["path"])[:-4] for v in ok) == sorted(reference)
    for v in ok:
        assert_same_as_detect(os.path.join(str(out), v["output"]), reference[os.path.basename(v["path"])[:-4]])
        assert v["frames"] == sum(1 for _ in open(reference[os.path.basename(v["path"])[:-4]]))
        assert len(v["sha256"]) == 64 and v["size"] == os.path.getsize(v["path"]) and v["workers"]
    return man


def outputs_mtimes(out):
    return dict((p, os.stat(p).st_mtime_ns) for p in glob.glob(os.path.join(str(out), "*.parquet")))


def test_score_here_equals_detect_and_resumes(clips, reference, tmp_path):
    folder, paths = clips
    out = tmp_path / "out"
    r = run_cli("score", paths[0], folder / "corrupt.mp4", "--out", out, "--segment-frames", "30", "--threads", "1")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "trafficpipe: error: 1 of 2 video(s) failed (see %s/manifest.json)" % out
    man = check_outputs(out, dict((k, v) for k, v in reference.items() if k in paths[0]))
    bad = [v for v in man["videos"] if v["status"] == "failed"]
    assert len(bad) == 1 and "corrupt.mp4" in bad[0]["error"]
    assert man["summary"]["segments_scored"] == 2  # 60 frames, keyframes every 12: segments 0-36 and 36-60
    before = outputs_mtimes(out)
    r = run_cli("score", paths[0], "--out", out, "--segment-frames", "30", "--threads", "1")
    assert r.returncode == 0, r.stderr
    man = json.load(open(str(out / "manifest.json")))
    assert man["summary"]["frames_scored"] == 0 and man["summary"]["reused"] == 1
    assert outputs_mtimes(out) == before
    # a run naming another video keeps this one's entry, as not reused by that run
    r = run_cli("score", folder / "corrupt.mp4", "--out", out, "--segment-frames", "30", "--threads", "1")
    assert r.returncode == 2, r.stderr
    man = json.load(open(str(out / "manifest.json")))
    kept = [v for v in man["videos"] if v["path"] == os.path.abspath(str(paths[0]))]
    assert len(kept) == 1 and kept[0]["status"] == "ok" and kept[0]["reused"] is False
    assert man["summary"]["reused"] == 0 and outputs_mtimes(out) == before


def test_score_here_tracked_equals_detect_track_and_is_not_the_untracked_run(clips, tracked_reference, tmp_path):
    """--track: segments of 12 frames (6 here) tracked in order by one tracker, the ids of `detect --track`; a
    tracked run after an untracked one in the same folder scores again (another configuration), and resumes itself."""
    path = clips[1][2]
    name = os.path.basename(path)[:-4]
    out = tmp_path / "out"
    r = run_cli("score", path, "--out", out, "--segment-frames", "12", "--threads", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    untracked = json.load(open(str(out / "manifest.json")))
    assert "tracker" not in untracked
    import pyarrow.parquet as pq
    assert "track_id" not in pq.read_schema(str(out / untracked["videos"][0]["output"])).names
    for reused in (0, 1):
        r = run_cli("score", path, "--out", out, "--segment-frames", "12", "--threads", "1", "--no-progress",
                    "--track", "--tracker", "ocsort")
        assert r.returncode == 0, r.stderr
        man = check_outputs(out, {name: tracked_reference[name]})
        assert man["tracker"] == "ocsort" and man["config"] != untracked["config"]
        assert man["summary"]["reused"] == reused and man["summary"]["frames_scored"] == (0 if reused else 66)
        v = man["videos"][0]
        assert v["segments"] == 6 and v["track_restarts"] == [] and len(v["workers"]) == 1


def test_a_tracked_resume_restarts_the_ids_after_the_committed_segments(tmp_path):
    """An interrupted tracked run left segments 0-12 and 24-36 of a video: the next run keeps 0-12, scores 12-24 with a
    new tracker whose ids follow those committed, and 24-36 (after it) again, in order; untracked, only 12-24."""
    from trafficpipe.scale.rows import schema
    from trafficpipe.scale.run import ScoreRun
    from trafficpipe.scale.store import OutputStore
    from trafficpipe.scale.worker import META_KEY

    class Runner(object):
        name, workers = "test", ["here:1"]

    store = OutputStore(str(tmp_path))
    tracking = {"tracker": "bytetrack", "keep_conf": 0.3}
    segs = [(0, 12), (12, 24), (24, 36)]
    info = {"path": "/videos/v.mp4", "sha256": "ab" * 32}
    for track in (tracking, None):
        run = ScoreRun([], store, Runner(), {"model": "m.onnx"}, 12, tracking=track)
        for (a, b), next_id in zip(segs, (8, None, 20)):
            if next_id is not None:
                store.write_table(run._segment_path("v", info, a, b), schema(track is not None).empty_table(),
                                  {META_KEY: {"frames": 12, "next_track_id": next_id}})
        tasks = run._segment_tasks("v", info, segs)
        if track:
            assert [(t["start"], t["track"]["restart"], t["track"]["first_id"], t["track"]["last"]) for t in tasks] == [
                (12, True, 8, False), (24, False, 8, True)]
        else:
            assert [(t["start"], "track" in t) for t in tasks] == [(12, False)]


# ---- on a real Ray cluster: two nodes of one CPU each on 127.0.0.1 ----

@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    pytest.importorskip("ray")
    from ray_cluster import LocalRayCluster
    c = LocalRayCluster(tmp_path_factory.mktemp("ray"), cpus=1)
    try:
        c.start_head()
        c.add_node()
        c.wait_nodes(2)
        yield c
    finally:
        c.stop()
    assert not c.processes()


def score_cmd(sources, out, cluster, segment_frames="30"):
    return [sys.executable, "-m", "trafficpipe", "score"] + [str(s) for s in sources] + [
        "--out", str(out), "--segment-frames", segment_frames, "--ray", cluster.address, "--no-progress"]


def test_score_on_ray_cluster(clips, reference, cluster, tmp_path):
    folder, paths = clips
    out = tmp_path / "out"
    r = subprocess.run(score_cmd([folder], out, cluster), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=300)
    assert r.returncode == 2, r.stderr  # the corrupt video
    man = check_outputs(out, reference)
    assert len(man["workers"]) == 2
    assert len(set(w for v in man["videos"] if v["status"] == "ok" for w in v["workers"])) == 2
    bad = [v for v in man["videos"] if v["status"] == "failed"]
    assert len(bad) == 1 and "corrupt.mp4" in bad[0]["error"]
    assert man["summary"]["segments_scored"] == 6 and man["summary"]["retries"] == 0
    assert not os.path.exists(str(out / "segments"))  # merged: no segment file is left
    # (a re-run reuses what is done: the driver decides that alike on a cluster and here, as
    # test_score_here_equals_detect_and_resumes shows)


def test_score_on_ray_survives_a_killed_worker(clips, reference, cluster, tmp_path):
    folder, paths = clips
    out = tmp_path / "out"
    p = subprocess.Popen(score_cmd(paths, out, cluster), cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True)
    try:
        killed = None
        t_end = time.time() + 120
        while time.time() < t_end and p.poll() is None:  # once a first segment is committed, kill a scoring actor
            if glob.glob(str(out / "segments" / "*" / "*" / "*.parquet")):
                pids = cluster.actor_pids("SegmentScorer")
                assert len(pids) == 2
                killed = pids[0]
                os.kill(killed, 9)
                break
            time.sleep(0.05)
        _, err = p.communicate(timeout=240)
    finally:
        if p.poll() is None:
            p.kill()
    assert killed is not None, err
    assert p.returncode == 0, err
    assert "died" in err
    man = check_outputs(out, reference)
    retries = [r for v in man["videos"] for r in v["retries"]]
    assert man["summary"]["retries"] == len(retries) >= 1
    assert all(r["scored_again"] and r["worker"].endswith(":%d" % killed) for r in retries)
    assert man["summary"]["segments_scored"] == 6


def test_score_on_ray_tracked_equals_detect_track(clips, tracked_reference, cluster, tmp_path):
    """--track on the cluster: each video's 5 segments in order on one actor (two videos: one on each), the ids of
    `detect --track` as if the video had not been cut."""
    out = tmp_path / "out"
    r = subprocess.run(score_cmd(clips[1][:2], out, cluster, "12") + ["--track"], cwd=ROOT, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert r.returncode == 0, r.stderr
    man = check_outputs(out, dict((os.path.basename(p)[:-4], tracked_reference[os.path.basename(p)[:-4]])
                                  for p in clips[1][:2]))
    assert man["tracker"] == "bytetrack" and man["summary"]["segments_scored"] == 10
    assert all(len(v["workers"]) == 1 and v["segments"] == 5 for v in man["videos"])
    assert len(set(v["workers"][0] for v in man["videos"])) == 2


def test_score_on_ray_tracked_goes_on_after_a_killed_worker(clips, tracked_reference, cluster, tmp_path):
    """--track with an actor killed mid-video: its video goes on, in order, on the other actor from the lost segment
    with new ids (above every id before it); the frames before are those of `detect --track`, none is lost."""
    out = tmp_path / "out"
    p = subprocess.Popen(score_cmd(clips[1][:2], out, cluster, "12") + ["--track"], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True)
    try:
        killed = None
        t_end = time.time() + 120
        # once each video has two segments in, kill an actor: its video is past its first segment, which the actor
        # may have committed without answering yet (its retry would then start the ids at 1, as they were)
        while time.time() < t_end and p.poll() is None:
            per_video = collections.Counter(os.path.dirname(f) for f in
                                            glob.glob(str(out / "segments" / "*" / "*" / "*.parquet")))
            if len(per_video) == 2 and min(per_video.values()) >= 2:
                killed = cluster.actor_pids("SegmentScorer")[0]
                os.kill(killed, 9)
                break
            time.sleep(0.05)
        _, err = p.communicate(timeout=240)
    finally:
        if p.poll() is None:
            p.kill()
    assert killed is not None and p.returncode == 0, err
    man = json.load(open(str(out / "manifest.json")))
    retries = [r for v in man["videos"] for r in v["retries"]]
    assert retries and all(r["scored_again"] and r.get("ids_restart") for r in retries), retries
    restarted = [v for v in man["videos"] if v["track_restarts"]]
    assert len(restarted) == 1 and len(restarted[0]["workers"]) == 2
    for v in man["videos"]:
        reference = tracked_reference[os.path.basename(v["path"])[:-4]]
        at = v["track_restarts"][0] if v["track_restarts"] else None
        assert_same_as_detect(str(out / v["output"]), reference, until=at)
        if at:
            rows, _ = parquet_by_frame(str(out / v["output"]))
            before = [r[3] for f, rs in rows.items() if f < at for r in rs if r[3]]
            after = [r[3] for f, rs in rows.items() if f >= at for r in rs if r[3]]
            assert 0 < at < v["frames"] and after and min(after) > max(before)


def test_score_sources_folders_globs_and_lists(clips, tmp_path):
    from trafficpipe.errors import SourceError
    from trafficpipe.scale.inputs import expand_sources
    folder, paths = clips
    listing = tmp_path / "videos.txt"
    listing.write_text("# the archive\n%s\n%s\n" % (paths[1], os.path.join(str(folder), "highway-*.mp4")))
    assert expand_sources([str(listing), paths[0]]) == [paths[1], paths[0], paths[2]]  # each once, in order
    assert expand_sources([str(folder)]) == sorted(paths + [str(folder / "corrupt.mp4")])
    with pytest.raises(SourceError, match="no video file matches"):
        expand_sources([str(folder / "nothing-*.mp4")])
    with pytest.raises(SourceError, match="does not exist"):
        expand_sources([str(tmp_path / "missing.mp4")])
