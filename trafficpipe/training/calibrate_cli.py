"""`trafficpipe calibrate MODEL --dataset DATASET --classes C`: put a class's best-F1 point at the default threshold."""
import json
import os
import sys

from ..errors import TrafficpipeError
from ..log import logger


def add_parser(sub):
    from ..cli_values import nonneg_int
    p = sub.add_parser("calibrate", help="shift a trained model's class scores so that the default threshold falls at "
                                         "each class's operating point on a labeled set",
                       description="For each class of --classes, find on DATASET (use the training set, never the "
                                   "set you report on) the score threshold with the best F1 (or, with "
                                   "--min-precision, the highest recall at that precision), and shift that class's "
                                   "logit in the model's head so that this score becomes --conf (the default "
                                   "threshold of detect). The order of the class's scores, hence its AP, is unchanged. "
                                   "Writes OUT with the calibration in its metadata, and the model card beside MODEL "
                                   "(if any) updated; with --eval, the card's figures are measured again.")
    p.add_argument("model", metavar="MODEL", help="a model written by trafficpipe train/export (PicoDet or YOLOX)")
    p.add_argument("--dataset", required=True, help="labeled set to calibrate on (e.g. ../shared/data/traffic-train)")
    p.add_argument("--classes", required=True, metavar="CLASS[,CLASS]", help="classes to calibrate (e.g. road_sign)")
    p.add_argument("--conf", type=float, default=0.3, help="the threshold the operating point moves to (default 0.3)")
    p.add_argument("--min-precision", type=float, default=None, metavar="P",
                   help="operating point = the lowest threshold (highest recall) whose precision on DATASET reaches P "
                        "(default: the best F1)")
    p.add_argument("--out", default=None, help="ONNX file to write (default: MODEL with a _calibrated suffix)")
    p.add_argument("--eval", default=None, metavar="DATASET", help="score the calibrated model on this dataset for "
                                                                  "its card")
    p.add_argument("--baseline", default=None, metavar="MODEL", help="with --eval: also score this (COCO) model")
    p.add_argument("--threads", type=nonneg_int, default=0, help="ONNX Runtime threads (0 = all cores)")
    return p


def run(args):
    import onnx
    from ..eval.dataset import load_dataset
    from ..models.model_card import model_classes
    from ..models.registry import find_model
    from .calibrate import calibration_point, logit, shift_class_logit
    from .card import model_out_path

    if not 0.0 < args.conf < 1.0:
        raise TrafficpipeError("--conf must lie in (0, 1), got %s" % args.conf)
    if args.min_precision is not None and not 0.0 < args.min_precision <= 1.0:
        raise TrafficpipeError("--min-precision must lie in (0, 1], got %s" % args.min_precision)
    model = find_model(args.model)
    classes = model_classes(model)
    if not classes:
        raise TrafficpipeError("%s names no classes of its own: calibrate takes a model written by trafficpipe "
                               "train or export" % os.path.basename(model))
    names = [c.strip() for c in args.classes.split(",") if c.strip()]
    unknown = [c for c in names if c not in classes]
    if unknown:
        raise TrafficpipeError("--classes: %s not among the model's classes %s" % (", ".join(unknown),
                                                                                  ", ".join(classes)))
    dataset = load_dataset(args.dataset)
    if args.eval:
        load_dataset(args.eval, check_images=False)  # a bad set ends here, before anything is written
    out = model_out_path(args.out or os.path.splitext(model)[0] + "_calibrated.onnx")
    proto = onnx.load(model)
    meta = dict((p.key, p.value) for p in proto.metadata_props)
    done = json.loads(meta.get("trafficpipe.calibration", "[]"))
    entries = []
    for name in names:
        best = calibration_point(model, dataset, name, args.min_precision, threads=args.threads)
        delta = logit(args.conf) - logit(best["threshold"])
        shift_class_logit(proto, list(classes).index(name), delta)
        entry = {"class": name, "dataset": dataset.name, "images": best["images"], "gt": best["gt"],
                 "labels": best["labels"], "rule": best["rule"], "threshold": round(best["threshold"], 4),
                 "precision": round(best["precision"], 4), "recall": round(best["recall"], 4),
                 "f1": round(best["f1"], 4), "moved_to": args.conf, "logit_shift": round(delta, 4)}
        entries.append(entry)
        logger.info("{}: {}: precision {:.3f}, recall {:.3f} (F1 {:.3f}) at score {:.3f} on {} ({} images); logit "
                    "shifted by {:+.3f} so that it sits at {}", name, best["rule"], best["precision"], best["recall"],
                    best["f1"], best["threshold"], dataset.name, best["images"], delta, args.conf)
    meta["trafficpipe.calibration"] = json.dumps(done + entries)
    del proto.metadata_props[:]
    for k in sorted(meta):
        proto.metadata_props.add(key=k, value=meta[k])
    onnx.save(proto, out)
    try:  # the model and its card, or neither
        paths = _card(model, out, done + entries, args)
    except BaseException:
        from .card import remove_outputs
        remove_outputs(out)
        raise
    sys.stdout.write("wrote %s%s\n" % (out, "".join(", " + p for p in paths)))
    for e in entries:
        sys.stdout.write("  %-14s %s: precision %.3f, recall %.3f at %.3f on %s -> now at %.2f (logit %+.3f)\n"
                         % (e["class"], e["rule"], e["precision"], e["recall"], e["threshold"], e["dataset"],
                            e["moved_to"], e["logit_shift"]))
    return 0


def _card(model, out, entries, args):
    """The card of `model` (if it has one) for `out`: calibration recorded, figures measured again with --eval."""
    from ..engines.onnx_graph import file_sha256
    from .card import write_card
    from .model_eval import compare, evaluate_model
    src = os.path.splitext(model)[0] + ".json"
    if not os.path.isfile(src):
        logger.warning("{} has no model card beside it: none written", os.path.basename(model))
        return ()
    with open(src) as f:
        card = json.load(f)
    card["name"] = os.path.splitext(os.path.basename(out))[0]
    card["file"] = os.path.basename(out)
    card["sha256"] = file_sha256(out)
    card["calibration"] = entries
    card.setdefault("method", {})["calibration"] = (
        "per-class score calibration (`trafficpipe calibrate`): %s" % "; ".join(
            "%s: %s on %s (%d images, labels %s: precision %.3f, recall %.3f at score %.3f) moved to %.2f by a "
            "logit shift of %+.3f in the head's bias" % (e["class"], e["rule"], e["dataset"], e["images"],
                                                          e["labels"], e["precision"], e["recall"], e["threshold"],
                                                          e["moved_to"], e["logit_shift"]) for e in entries))
    if args.eval:
        from ..models.registry import find_model
        ev = evaluate_model(out, args.eval, threads=args.threads)
        if args.baseline:
            ev = compare(ev, evaluate_model(find_model(args.baseline), args.eval, threads=args.threads))
        card["evaluation"] = ev
    elif "evaluation" in card:
        card["evaluation"]["stale"] = "measured before calibration; run calibrate with --eval"
    return write_card(card, out)
