"""`trafficpipe score`: Parquet rows equal to `detect`'s JSON lines, resumable, a corrupt video marked failed; here
(no Ray) and on a real two-node Ray cluster started on this machine, with a worker killed mid-run."""
import glob
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from cli_helpers import ROOT, run_cli
from score_helpers import assert_same_as_detect, cut_clips

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


def score_cmd(sources, out, cluster):
    return [sys.executable, "-m", "trafficpipe", "score"] + [str(s) for s in sources] + [
        "--out", str(out), "--segment-frames", "30", "--ray", cluster.address, "--no-progress"]


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

    # re-run: nothing is scored again, no output is rewritten
    before = outputs_mtimes(out)
    r = subprocess.run(score_cmd(paths, out, cluster), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=300)
    assert r.returncode == 0, r.stderr
    man = json.load(open(str(out / "manifest.json")))
    assert man["summary"]["segments_scored"] == 0 and man["summary"]["reused"] == 3
    assert outputs_mtimes(out) == before


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


def test_score_sources_folders_globs_and_lists(clips, tmp_path):
    from trafficpipe.errors import SourceError
    from trafficpipe.scale.inputs import expand_sources
    folder, paths = clips
    listing = tmp_path / "videos.txt"
    listing.write_text("# the archive\n%s\n%s\n" % (paths[1], os.path.join(str(folder), "highway-*.mp4")))
    assert expand_sources([str(listing), paths[0]]) == [paths[1], paths[0], paths[2]]  # each once, in order
    assert expand_sources([str(folder)]) == sorted(paths + [str(folder / "corrupt.mp4")])
    with pytest.raises(SourceError, match="no file matches"):
        expand_sources([str(folder / "nothing-*.mp4")])
    with pytest.raises(SourceError, match="does not exist"):
        expand_sources([str(tmp_path / "missing.mp4")])
