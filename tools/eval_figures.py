"""The default model's and the COCO base's AP50 figures as docs/perception.md and the README give them: `trafficpipe
eval` on traffic-dev (tiles auto and off) and on the PETS09 sequence, one JSON line per run with the per-source box
counts.

Usage: python tools/eval_figures.py OUT.jsonl [--data ../shared]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = [(model, sets, tiles) for model in (None, "picodet-s-416")
        for sets, tiles in (("data/traffic-dev", "auto"), ("data/traffic-dev", "off"), ("data/tracking/pets09_s3mf1", None))]


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--data", default=os.environ.get("TRAFFICPIPE_DATA", os.path.join(ROOT, "..", "shared")))
    args = ap.parse_args()
    import onnxruntime
    machine = "CPU, %d cores (%s), ONNX Runtime %s" % (os.cpu_count(), cpu_name(), onnxruntime.__version__)
    with open(args.out + ".partial", "w") as f:
        for model, sets, tiles in RUNS:
            shown = ["trafficpipe", "eval", "../shared/" + sets] + (["--model", model] if model else []) + \
                (["--tiles", tiles] if tiles else []) + ["--no-plots"]
            with tempfile.TemporaryDirectory() as tmp:
                cmd = [sys.executable, "-m", "trafficpipe"] + shown[1:] + ["--out", tmp, "--no-progress"]
                cmd[4] = os.path.join(args.data, sets)
                subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
                rep = json.load(open(os.path.join(tmp, "report.json")))
            classes = rep["classes"]
            rec = {"command": " ".join(shown), "model": rep["run"]["detector"]["model"], "machine": machine,
                   "images": rep["images"], "tiles": tiles != "off",
                   "ap50": dict((c, round(v["ap50"], 4)) for c, v in sorted(classes.items())),
                   "gt": dict((c, v["gt"]) for c, v in sorted(classes.items())),
                   "ap50_by_source": dict((s, dict((c, {"ap50": round(v["ap50"], 4), "gt": v["gt"]})
                                                   for c, v in sorted(d.get("classes", {}).items())))
                                          for s, d in sorted(rep["sources"].items()))}
            f.write(json.dumps(rec, sort_keys=True) + "\n")
            f.flush()
            sys.stdout.write("%s: %s\n" % (rec["command"], rec["ap50"]))
    os.replace(args.out + ".partial", args.out)


if __name__ == "__main__":
    main()
