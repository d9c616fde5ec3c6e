"""`trafficpipe score` into an object store: a real S3 server (moto's) started on 127.0.0.1, the output folder an
s3:// URI with the credentials in it (never shown) and the endpoint from the environment (AWS_ENDPOINT_URL)."""
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from cli_helpers import free_port, run_cli
from score_helpers import cut_clips

pytest.importorskip("pyarrow")
pytest.importorskip("moto.server")

SECRET = "s3cr3t-Not-To-Be-Shown"


@pytest.fixture
def s3_endpoint(tmp_path):
    """http://127.0.0.1:PORT of a moto S3 server, stopped after the test whatever happens."""
    port = free_port()
    log = open(str(tmp_path / "moto.log"), "w")
    p = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log,
                         stderr=subprocess.STDOUT)
    try:
        t_end = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1.0).close()
                break
            except OSError:
                assert p.poll() is None and time.time() < t_end, open(str(tmp_path / "moto.log")).read()[-2000:]
                time.sleep(0.2)
        yield "http://127.0.0.1:%d" % port
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()


def test_score_into_s3_and_resume(shared, s3_endpoint, tmp_path):
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq
    clip = cut_clips(shared, tmp_path)[0]  # 60 frames: 2 segments at --segment-frames 30
    env = {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    fs = pafs.S3FileSystem(access_key="tester", secret_key=SECRET, region="us-east-1", scheme="http",
                           endpoint_override=s3_endpoint.split("://")[1], allow_bucket_creation=True)
    fs.create_dir("archive-scores")
    out = "s3://tester:%s@archive-scores/run1" % SECRET
    for reused in (0, 1):
        r = run_cli("score", clip, "--out", out, "--segment-frames", "30", "--threads", "1", "--no-progress", env=env)
        assert r.returncode == 0, r.stderr
        assert SECRET not in r.stdout + r.stderr and "s3://tester:***@archive-scores/run1" in r.stderr
        with fs.open_input_stream("archive-scores/run1/manifest.json") as f:
            man = json.loads(f.read().decode("utf-8"))
        assert man["summary"]["reused"] == reused and man["summary"]["frames_scored"] == (0 if reused else 60)
        v = man["videos"][0]
        assert v["status"] == "ok" and v["frames"] == 60 and v["segments"] == 2
        table = pq.read_table("archive-scores/run1/" + v["output"], filesystem=fs)
        assert table.num_rows == v["detections"] > 0 and sorted(set(table.column("frame").to_pylist()))[-1] < 60
        names = [i.path for i in fs.get_file_info(pafs.FileSelector("archive-scores/run1", recursive=True))]
        assert sorted(names) == ["archive-scores/run1/" + v["output"], "archive-scores/run1/manifest.json"]
