"""`--mps` with NVIDIA's real MPS control daemon: `detect --processes 2 --mps` writes the detections of the same run
without MPS, and the private daemon it started is gone afterwards."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from gpu_helpers import VIDEO, match_detections, report
from trafficpipe.models.detections import Detections
from trafficpipe.models.classes import TRAFFIC_CLASSES

pytestmark = pytest.mark.skipif(shutil.which("nvidia-cuda-mps-control") is None,
                                reason="nvidia-cuda-mps-control is not on the PATH")


def _detect(out, *extra):
    proc = subprocess.run([sys.executable, "-m", "trafficpipe", "detect", VIDEO, VIDEO, "--processes", "2",
                           "--engine", "torch", "--precision", "fp32", "--batch", "4", "--max-frames", "120",
                           "--save", "jsonl", "--out", str(out), "--no-progress"] + list(extra),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = {}
    for name in sorted(os.listdir(str(out))):
        rows = [json.loads(l) for l in (out / name).read_text().splitlines()]
        runs[name] = [Detections(np.array([d["box"] for d in r["detections"]], np.float32).reshape(-1, 4),
                                 np.array([d["score"] for d in r["detections"]], np.float32),
                                 np.array([TRAFFIC_CLASSES.index(d["cls"]) for d in r["detections"]], np.int32))
                      for r in rows]
        assert [r["frame"] for r in rows] == list(range(120))
    return runs, proc.stderr


def test_detect_in_processes_under_mps_matches_without(tmp_path):
    plain, _ = _detect(tmp_path / "plain")
    mps, log = _detect(tmp_path / "mps", "--mps")
    assert sorted(plain) == sorted(mps) == ["highway-720p.jsonl", "highway-720p_1.jsonl"]
    scores = [match_detections(a, b, 0.99) for name in plain for a, b in zip(plain[name], mps[name])]
    report("mps_detect_processes", frames=len(scores), matched=float(np.mean(scores)))
    assert np.mean(scores) >= 0.99
    assert "private daemon started" in log and "daemon stopped" in log, log[-2000:]
    pipe = [l.split("(pipe ")[1].rstrip(")") for l in log.splitlines() if "private daemon started" in l][0]
    from trafficpipe.engines.mps import daemon_pids
    assert daemon_pids(pipe) == [] and not os.path.exists(pipe)
