"""Score ONNX models on a labeled set as `trafficpipe eval` does with its defaults (tiled inference where it pays),
plus the road-sign figures of `trafficpipe export --eval`; one JSON line per model.

Usage: python tools/score_models.py DATASET OUT.jsonl MODEL.onnx [MODEL.onnx ...] [--threads N] [--tiles off]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trafficpipe.detector import Detector  # noqa: E402
from trafficpipe.eval.sets import load_labeled_set  # noqa: E402
from trafficpipe.eval.runner import evaluate  # noqa: E402
from trafficpipe.models.tiling import TilePlan  # noqa: E402
from trafficpipe.training.model_eval import road_sign_figures  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("out")
    ap.add_argument("models", nargs="+")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--tiles", default="auto", choices=("auto", "off"))
    args = ap.parse_args()
    dataset = load_labeled_set(args.dataset)
    plan = TilePlan() if args.tiles == "auto" else None
    for model in args.models:
        with Detector(model=model, conf=0.001, threads=args.threads) as det:
            res = evaluate(dataset, det, tiles=plan)
        rec = {"model": os.path.basename(model), "tiles": args.tiles, "map50": res.map50,
               "ap50": {k: r.ap50 for k, r in res.classes.items()},
               "sources": {s: {k: v for k, v in d.items()} for s, d in getattr(res, "by_source", {}).items()}
               if isinstance(getattr(res, "by_source", None), dict) else None,
               "road_sign": road_sign_figures(dataset, res.detections)}
        with open(args.out, "a") as f:
            f.write(json.dumps(rec, default=float) + "\n")
        sys.stdout.write("%s %s\n" % (rec["model"], " ".join("%s %.3f" % (k, v) for k, v in rec["ap50"].items()
                                                             if v is not None)))


if __name__ == "__main__":
    main()
