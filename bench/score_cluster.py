"""Throughput of `trafficpipe score` on a local Ray cluster (1 and 2 nodes) against one `trafficpipe detect` process
on the same videos, and the bytes per frame of detections as JSON lines and as Parquet.

    python bench/score_cluster.py --frames 150 --out bench/results/cpu-2core-score-ray.json

Cuts the first --frames frames of each shared video into MPEG-4 clips (a keyframe every 12 frames), then times, each a
fresh process: detect (all clips as sources, one process), score without Ray, score on a cluster of one node and of two
nodes (--cpus-per-node each, one scoring actor per CPU). Every run's wall time includes its start (imports, detector,
for Ray: connecting and building the actors), as a user sees it.
"""
import argparse
import glob
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))


def cut(shared, folder, frames):
    import cv2
    paths = []
    for src in sorted(glob.glob(os.path.join(shared, "videos", "*.mp4"))):
        cap = cv2.VideoCapture(src)
        imgs = []
        while len(imgs) < frames:
            ok, img = cap.read()
            if not ok:
                break
            imgs.append(img)
        cap.release()
        path = os.path.join(folder, os.path.basename(src))
        h, w = imgs[0].shape[:2]
        out = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (w, h))
        for img in imgs:
            out.write(img)
        out.release()
        paths.append((path, len(imgs), w, h))
    return paths


def timed(cmd):
    t0 = time.time()
    r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    wall = time.time() - t0
    if r.returncode:
        raise SystemExit("failed: %s\n%s" % (" ".join(cmd), r.stderr[-3000:]))
    return wall, r.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--segment-frames", type=int, default=60)
    ap.add_argument("--cpus-per-node", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    from trafficpipe.paths import data_dir
    from ray_cluster import LocalRayCluster
    tmp = tempfile.mkdtemp(prefix="score-bench-")
    clips = cut(data_dir(), tmp, args.frames)
    frames = sum(c[1] for c in clips)
    tp = [sys.executable, "-m", "trafficpipe"]
    results = {"frames": frames, "clips": [dict(zip(("file", "frames", "width", "height"), (os.path.basename(c[0]),)
                                                    + c[1:])) for c in clips],
               "segment_frames": args.segment_frames, "cpus_per_node": args.cpus_per_node, "runs": []}

    def record(name, cmd, extra=None):
        load0 = os.getloadavg()[0]
        wall, err = timed(cmd)
        row = {"run": name, "command": " ".join(os.path.basename(c) if c == sys.executable else c for c in cmd),
               "wall_s": round(wall, 2), "fps": round(frames / wall, 2), "load_before": round(load0, 2),
               "load_after": round(os.getloadavg()[0], 2)}
        m = re.search(r"(\d+) frames in ([0-9.]+)s = ([0-9.]+) fps; outputs", err)
        if m:  # detect's own figure: from its first frame read to its last output written
            row["run_s"], row["run_fps"] = float(m.group(2)), float(m.group(3))
        if "--out" in cmd and os.path.exists(os.path.join(cmd[cmd.index("--out") + 1], "manifest.json")):
            summ = json.load(open(os.path.join(cmd[cmd.index("--out") + 1], "manifest.json")))["summary"]
            row["run_s"], row["run_fps"] = summ["wall_s"], summ["fps"]  # score's: from the plan to the last merge
        row.update(extra or {})
        results["runs"].append(row)
        print(json.dumps(row), flush=True)
        return err

    for rep in range(args.repeats):
        det = os.path.join(tmp, "detect%d" % rep)
        record("detect, one process", tp + ["detect"] + [c[0] for c in clips] + ["--save", "jsonl", "--out", det,
                                                                              "--no-progress"])
        jsonl = sum(os.path.getsize(p) for p in glob.glob(os.path.join(det, "*.jsonl")))
        here = os.path.join(tmp, "score-here%d" % rep)
        record("score, no Ray", tp + ["score", tmp + "/*.mp4", "--out", here, "--segment-frames",
                                      str(args.segment_frames), "--no-progress"])
        man = json.load(open(os.path.join(here, "manifest.json")))
        parquet = sum(v["bytes"] for v in man["videos"])
        dets = sum(v["detections"] for v in man["videos"])
        for nodes in (1, 2):
            c = LocalRayCluster(os.path.join(tmp, "ray%d-%d" % (nodes, rep)), cpus=args.cpus_per_node)
            try:
                c.start_head()
                for _ in range(nodes - 1):
                    c.add_node()
                c.wait_nodes(nodes)
                out = os.path.join(tmp, "score-ray%d-%d" % (nodes, rep))
                record("score --ray, %d node(s)" % nodes, tp + ["score", tmp + "/*.mp4", "--out", out, "--segment-frames",
                                                                str(args.segment_frames), "--ray", c.address,
                                                                "--no-progress"],
                       {"nodes": nodes, "actors": nodes * args.cpus_per_node})
            finally:
                c.stop()
    results["bytes_per_frame"] = {"jsonl": round(jsonl / frames, 1), "parquet_zstd": round(parquet / frames, 1),
                                  "detections_per_frame": round(dets / frames, 2)}
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "note": "2 cores shared with other work: load average recorded per run"}
    import pyarrow
    import ray
    results["versions"] = {"ray": ray.__version__, "pyarrow": pyarrow.__version__}
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps(results["bytes_per_frame"]))


if __name__ == "__main__":
    main()
