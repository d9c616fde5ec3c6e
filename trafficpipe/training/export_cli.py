"""`trafficpipe export CHECKPOINT`: write a trained checkpoint as ONNX (the base model's graph and outputs, new
weights) with its model card, optionally scored on a dataset by the eval code."""
import os
import sys

from ..errors import TrafficpipeError, first_line
from ..log import logger


_FAMILY = {"picodet": "PicoDet", "yolox": "YOLOX"}


def add_parser(sub):
    from ..cli_values import non_empty, thread_count, unit_interval
    p = sub.add_parser("export", help="write a trained checkpoint (best.pt) as ONNX with its model card",
                       description="Write CHECKPOINT (best.pt of `trafficpipe train`) as an ONNX file with the base "
                                   "model's graph, input and outputs (PicoDet: 8, score maps with one column per "
                                   "class; YOLOX: 1, [1,N,5+classes]), so every engine loads it like the shipped "
                                   "models, plus its model card (.json, .md). "
                                   "With --eval, score it on a dataset (as `trafficpipe eval` does) and put the "
                                   "figures in the card; with --baseline, compare them with a COCO model.")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="best.pt written by trafficpipe train")
    p.add_argument("--base", default=None, type=non_empty,
                   help="the base ONNX the checkpoint was trained from (default: the one it names, looked up in the "
                        "model folders)")
    p.add_argument("--out", default=None, type=non_empty,
                   help="ONNX file to write (default: trafficpipe_picodet_s_416.onnx or "
                        "trafficpipe_yolox_nano_416.onnx, after the family, beside the checkpoint); a model already "
                        "there is replaced, with its card, only once the export (and --eval) succeeded")
    p.add_argument("--eval", default=None, type=non_empty, metavar="DATASET",
                   help="score the exported model on this dataset")
    p.add_argument("--baseline", default=None, type=non_empty, metavar="MODEL",
                   help="with --eval: also score this (COCO) model on that set and record whether the export beats it "
                        "per class")
    p.add_argument("--summary", default=None, type=non_empty,
                   help="summary.json of the training run (default: beside the checkpoint) for the card's training "
                        "facts")
    p.add_argument("--blend", type=unit_interval, default=1.0, metavar="ALPHA",
                   help="weight-space ensemble with the base model (WiSE-FT): ALPHA * trained + (1 - ALPHA) * initial "
                        "weights; 1 = the trained weights as they are (default)")
    p.add_argument("--keep-base", default=None, metavar="CLASS[,CLASS]",
                   help="these classes keep the head rows they started from (their COCO rows): for classes the "
                        "training set cannot teach; exact with --trainable head (default: none)")
    p.add_argument("--note", default=None, help="a line for the card's training section (e.g. how the GPU was shared)")
    p.add_argument("--threads", type=thread_count, default=0, help="ONNX Runtime threads for --eval (0 = all cores)")
    return p


def _keep_base(text, classes):
    # type: (str, tuple) -> list
    if not text:
        return []
    names = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in names if c not in classes]
    if unknown:
        raise TrafficpipeError("--keep-base: %s not among the model's classes %s" % (", ".join(unknown),
                                                                                    ", ".join(classes)))
    return names


def run(args):
    from ..eval.dataset import load_dataset
    from ..eval.runner import check_readable
    from ..models.registry import find_model
    from .card import commit_outputs, discard_outputs, model_out_path, staging_path

    # what needs no torch is checked first: a wrong path ends at once, not after torch's few seconds of import
    if not os.path.isfile(args.checkpoint):
        raise TrafficpipeError("checkpoint %s %s" % (args.checkpoint, "is a folder; give its best.pt" if
                                                     os.path.isdir(args.checkpoint) else "does not exist"))
    if args.out:
        model_out_path(args.out, announce=False)
    if args.baseline and not args.eval:
        raise TrafficpipeError("--baseline %s needs --eval: the baseline is scored on that dataset" % args.baseline)
    baseline = find_model(args.baseline) if args.baseline else None  # a typo ends here, before anything is written
    if args.eval:
        check_readable(load_dataset(args.eval))  # a missing or unreadable image ends here, before any writing
    summary_path = args.summary or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), "summary.json")
    summary = _read_summary(summary_path, given=bool(args.summary))
    try:
        import torch
        from .export import export_onnx
        from .bases import build_network
    except ImportError as e:
        from ..torchdeps import INSTALL_HINT
        raise TrafficpipeError("trafficpipe export needs torch and onnx2torch (%s): %s" % (e, INSTALL_HINT))
    try:
        ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    except Exception as e:
        raise TrafficpipeError("%s is not a trafficpipe checkpoint (%s)" % (args.checkpoint, type(e).__name__))
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict) or "classes" not in ckpt:
        raise TrafficpipeError("%s is not a trafficpipe checkpoint (no state_dict/classes)" % args.checkpoint)
    if not args.base and not ckpt.get("base"):
        raise TrafficpipeError("%s does not name the base model it was trained from: give it with --base (e.g. "
                               "picodet_s_416_coco.onnx)" % args.checkpoint)
    classes = _checkpoint_classes(ckpt, args.checkpoint)
    base = find_model(args.base or ckpt.get("base"))
    from .bases import open_base
    try:
        family = open_base(base).family
    except TrafficpipeError as e:  # its words are for train ("trafficpipe train fine-tunes ...")
        raise TrafficpipeError("--base %s is not a base model the checkpoint can be exported on: %s" % (
            base, first_line(e).split("; ")[0]))
    if ckpt.get("family") and ckpt["family"] != family:
        raise TrafficpipeError("%s was trained from a %s base (%s) but --base %s is %s: give the base it was trained "
                               "from" % (args.checkpoint, _FAMILY.get(ckpt["family"], ckpt["family"]),
                                         ckpt.get("base") or "?", os.path.basename(base), _FAMILY.get(family, family)))
    try:
        net, _ = build_network(base, classes, imgsz=int(ckpt.get("imgsz", 416)))
    except TrafficpipeError as e:  # "the base model takes 320x320 inputs; train it at ...": the first part only
        raise TrafficpipeError("checkpoint %s (trained %sat %s px) does not fit base %s: %s" % (
            args.checkpoint, "from %s " % ckpt["base"] if ckpt.get("base") else "", ckpt.get("imgsz", 416),
            os.path.basename(base), first_line(e).split("; ")[0]))
    state = ckpt["state_dict"]
    _check_fit(state, net.state_dict(), args.checkpoint, base, len(classes))  # before --blend/--keep-base combine them
    if args.blend < 1.0:
        from .export import interpolate_weights
        state = interpolate_weights(state, net.state_dict(), args.blend)
    kept = _keep_base(args.keep_base, classes)
    if kept:
        from .export import keep_initial_rows
        state = keep_initial_rows(state, net.state_dict(), net.head_names, [classes.index(c) for c in kept])
    try:
        net.load_state_dict(state)
    except RuntimeError as e:  # same family, another network (picodet_s_320 for a 416 run, another YOLOX size)
        raise TrafficpipeError("checkpoint %s does not fit base %s (trained from %s): %s" % (
            args.checkpoint, os.path.basename(base), ckpt.get("base") or "another base",
            first_line(e).rstrip(": ")))
    from .trainer import model_name
    out = model_out_path(args.out or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)),
                                                  model_name(net.base, int(ckpt.get("imgsz", 416))) + ".onnx"),
                         inputs=(args.checkpoint, base, summary_path, baseline))
    meta = {"trafficpipe.base": os.path.basename(base), "trafficpipe.epoch": str(ckpt.get("epoch")),
            "trafficpipe.blend": str(args.blend), "trafficpipe.keep_base": ",".join(kept)}
    # the model and its card go to hidden names beside `out` and replace what is there only once every step
    # (the card, --eval) succeeded: a failed export leaves the model already at `out` as it was
    staged = staging_path(out)
    try:
        _write(lambda: export_onnx(net, base, staged, classes, meta), out)
        evaluation = _finish(args, out, staged, base, baseline, classes, summary, ckpt, kept, net.base.family)
        _write(lambda: commit_outputs(staged, out), out)
    except BaseException:
        discard_outputs(staged)
        if os.path.exists(staged + ".tmp%d" % os.getpid()):  # export_onnx's own temporary, where it stopped
            os.remove(staged + ".tmp%d" % os.getpid())
        raise
    from .card import card_path
    sys.stdout.write("wrote %s, %s, %s\n" % (out, card_path(out), os.path.splitext(out)[0] + ".md"))
    if evaluation:
        for name, r in evaluation["classes"].items():
            sys.stdout.write("  %-14s AP50 %.4f%s\n" % (name, r["ap50"] or 0.0, "" if r.get("baseline_ap50") is None
                                                         else "  (baseline %.4f)" % r["baseline_ap50"]))
        rs = evaluation.get("road_sign")
        if rs:
            sys.stdout.write("  road_sign      recall %.3f precision %.3f at conf %.2f (partial labels), AP50 %.4f\n"
                             % (rs["recall"], rs["precision"], rs["conf"], rs["ap50"] or 0.0))
        if "beats_baseline" in evaluation:
            sys.stdout.write("  beats the baseline on every class: %s\n" % ("yes" if evaluation["beats_baseline"]
                                                                           else "no"))
    logger.info("exported {}", out)
    return 0


def _write(step, out):
    """Run a step that writes `out` (or files beside it); an OSError (a folder that cannot be made or written, a full
    disk) becomes one line naming `out`."""
    try:
        return step()
    except (IOError, OSError) as e:
        raise TrafficpipeError("cannot write %s: %s" % (out, e.strerror or first_line(e)))


def _check_fit(state, expected, checkpoint, base, n_classes):
    # type: (dict, dict, str, str, int) -> None
    """TrafficpipeError (one line) unless the checkpoint's state_dict has the tensors of the network built from `base`
    (same names, same shapes): a checkpoint of another model, another base or another number of classes."""
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    shapes = [k for k in expected if k in state and hasattr(state[k], "shape")
              and tuple(state[k].shape) != tuple(expected[k].shape)]
    if not (missing or extra or shapes):
        return
    if missing:
        why = "%d of the %d tensors of the base's network are not in it (first: %s)" % (len(missing), len(expected),
                                                                                     missing[0])
    elif extra:
        why = "it holds %d tensors the base's network has no place for (first: %s)" % (len(extra), extra[0])
    else:
        k = shapes[0]
        why = "%s is %s in the checkpoint, %s in the base's network for the %d classes the checkpoint lists (%d " \
              "tensors differ)" % (k, list(state[k].shape), list(expected[k].shape), n_classes, len(shapes))
    raise TrafficpipeError("checkpoint %s does not fit base %s: %s" % (checkpoint, os.path.basename(base), why))


def _finish(args, out, staged, base, baseline, classes, summary, ckpt, kept, family):
    """The card of the exported model `out`, written (to `staged`, like the model) beside the model at `staged`,
    scored on --eval (and `baseline`) where asked: the evaluation or None."""
    from ..eval.dataset import load_dataset
    from .card import build_card, dataset_facts, write_card
    from .model_eval import compare, evaluate_model
    facts = {}
    if summary:
        for key, role in (("train_dir", "train"), ("val_dir", "val")):
            d = summary.get(key)
            if d and os.path.isdir(d):
                facts[role] = dataset_facts(load_dataset(d))
            elif d:
                facts[role] = {"name": os.path.basename(d), "images": summary.get("images") if role == "train"
                               else None, "sources": {}}
    evaluation = None
    if args.eval:
        evaluation = evaluate_model(staged, args.eval, threads=args.threads)
        evaluation["model"] = os.path.basename(out)
        if baseline:
            evaluation = compare(evaluation, evaluate_model(baseline, args.eval, threads=args.threads))
    card = build_card(staged, classes, base, summary, evaluation, facts.get("train"), facts.get("val"),
                      family=family)
    card["name"] = os.path.splitext(os.path.basename(out))[0]
    card["file"] = os.path.basename(out)
    card.setdefault("training", {})
    card["training"]["checkpoint_epoch"] = ckpt.get("epoch")
    card["training"]["blend"] = args.blend
    if args.blend < 1.0:
        card["method"]["blend"] = ("weight-space ensemble with the base model (WiSE-FT, Wortsman et al. 2022): "
                                   "%.2f * fine-tuned + %.2f * initial weights" % (args.blend, 1 - args.blend))
    if kept:
        card["training"]["keep_base"] = list(kept)
        card["method"]["keep_base"] = ("the head rows of %s are the initial (COCO-derived) ones, not trained"
                                       % ", ".join(kept))
    if args.note:
        card["training"]["note"] = args.note
    _write(lambda: write_card(card, staged), out)
    return evaluation


def _checkpoint_classes(ckpt, path):
    # type: (dict, str) -> tuple
    """The class names of a checkpoint, checked: traffic classes, each once (TrafficpipeError naming the file)."""
    from ..models.classes import TRAFFIC_CLASSES
    names = ckpt.get("classes")
    if (not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names)
            or len(set(names)) != len(names) or not set(names) <= set(TRAFFIC_CLASSES)):
        raise TrafficpipeError("%s is not a trafficpipe checkpoint: its classes %.80r are not traffic classes, each "
                               "once (%s)" % (path, names, ", ".join(TRAFFIC_CLASSES)))
    imgsz = ckpt.get("imgsz", 416)
    if isinstance(imgsz, bool) or not isinstance(imgsz, int) or imgsz <= 0:
        raise TrafficpipeError("%s is not a trafficpipe checkpoint: its input size %.40r is no positive whole number"
                               % (path, imgsz))
    return tuple(names)


def _read_summary(path, given):
    # type: (str, bool) -> dict
    """The training run's summary.json at `path` (None where there is none and it was not `given` by --summary);
    TrafficpipeError naming the file when it is missing (given), unreadable or not a JSON object."""
    import json
    if not os.path.isfile(path):
        if given:
            raise TrafficpipeError("--summary %s does not exist" % path)
        return None
    try:
        with open(path) as f:
            summary = json.load(f)
    except ValueError as e:
        raise TrafficpipeError("%s is not valid JSON (%s); --summary takes the summary.json of a training run"
                               % (path, first_line(e)))
    except (IOError, OSError) as e:
        raise TrafficpipeError("cannot read %s: %s" % (path, e.strerror or e))
    if not isinstance(summary, dict):
        raise TrafficpipeError("%s is not a training run's summary (a JSON object)" % path)
    return summary
