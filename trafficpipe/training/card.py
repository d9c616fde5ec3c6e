"""The model card of a trained model: `<model>.json` (read back by trafficpipe.models.model_card for the class
names) and `<model>.md` (the same facts for people)."""
import json
import os
import time

import numpy as np

from ..engines.onnx_graph import file_sha256
from ..models.model_card import card_path, read_card

BASE_MODELS = {
    "picodet_s_416_coco.onnx": {"name": "PP-PicoDet-S 416 (COCO, PaddleDetection 2.3)", "license": "Apache-2.0",
                                "source": "PaddleDetection release files, via hpc203/picodet-onnxruntime (coco/)",
                                "coco_map": 30.6},
    "picodet_s_320_coco.onnx": {"name": "PP-PicoDet-S 320 (COCO, PaddleDetection 2.3)", "license": "Apache-2.0",
                                "source": "PaddleDetection release files, via hpc203/picodet-onnxruntime (coco/)",
                                "coco_map": 27.1},
    "yolox_nano_416.onnx": {"name": "YOLOX-Nano 416 (COCO, Megvii)", "license": "Apache-2.0",
                            "source": "third-party ONNX export, Bigisland1729/object-detection-models",
                            "coco_map": 25.8},
}

METHOD = {
    "assignment": "SimOTA (YOLOX / PP-PicoDet): candidates inside the box or within 2.5 strides of its centre, "
                  "cost = class BCE at IoU quality + 3 * -log IoU, dynamic k = floor(sum of the 10 best IoUs)",
    "losses": "",  # the family's (training/bases.py)
    "partial_labels": "unassigned cells: exhaustive class -> negative; partial class -> target = the frozen COCO "
                      "model's score (distill; with --partial mask: no loss); class not labeled on the image -> "
                      "target = the frozen COCO model's score; ignore regions and boxes cut by the crop -> no loss",
    "head_init": "",  # the family's
    "weights": "exponential moving average of the weights, best validation epoch",
}


def dataset_facts(dataset):
    # type: (object) -> dict
    """Name, image count and images per source of a Dataset."""
    sources = {}
    for im in dataset.images:
        sources[im.source] = sources.get(im.source, 0) + 1
    return {"name": dataset.name, "images": len(dataset), "sources": sources}


def _family(base_path, summary):
    # type: (str, dict) -> str
    fam = (summary or {}).get("family")
    if fam:
        return fam
    if os.path.isfile(base_path):
        from .bases import open_base
        return open_base(base_path).family
    return "yolox" if "yolox" in os.path.basename(base_path).lower() else "picodet"


def build_card(onnx_path, classes, base_path, summary=None, evaluation=None, train_facts=None, val_facts=None,
               family=None):
    # type: (str, tuple, str, dict, dict, dict, dict, str) -> dict
    """The card as a dict (see write_card). `family` (picodet, yolox; default: the run's, else told from the base
    file) picks the input, outputs and method texts."""
    from .bases import BASES
    fb = BASES[family or _family(base_path, summary)]
    base_file = os.path.basename(base_path)
    base = dict(BASE_MODELS.get(base_file, {"name": base_file, "license": "see the base model's source"}))
    base["file"] = base_file
    if os.path.isfile(base_path):
        base["sha256"] = file_sha256(base_path)
    size = _input_size(onnx_path, summary)
    card = {
        "name": os.path.splitext(os.path.basename(onnx_path))[0],
        "file": os.path.basename(onnx_path),
        "sha256": file_sha256(onnx_path),
        "family": fb.family,
        "classes": list(classes),
        "input": {"name": fb.input_name, "shape": [1, 3, size, size],
                  "format": fb.input_format.replace("416", str(size))},
        "outputs": fb.outputs_text(len(classes)),
        "base_model": base,
        "license": "Apache-2.0 (fine-tuned from the Apache-2.0 base model)",
        "created": time.strftime("%Y-%m-%d"),
        "method": dict(METHOD, losses=fb.losses, head_init=fb.head_init, input=fb.train_view),
    }
    partial = ((summary or {}).get("config") or {}).get("partial")
    if partial == "mask":
        card["method"]["partial_labels"] = ("unassigned cells: exhaustive class -> negative; partial class -> no "
                                            "loss; class not labeled on the image -> target = the frozen COCO "
                                            "model's score; ignore regions and boxes cut by the crop -> no loss")
    if summary and "val_dir" in summary and not summary["val_dir"]:  # no --val: the epoch of the lowest loss
        card["method"]["weights"] = ("exponential moving average of the weights, epoch of the lowest training loss "
                                     "(no validation set)")
    if train_facts:
        card["data"] = {"train": train_facts, "validation": val_facts}
    if summary:
        cfg = summary.get("config", {})
        hist = summary.get("history") or []
        steady = [h["train_s"] for h in hist[1:]]  # epoch 1 carries start-up costs (workers, CUDA, cuDNN)
        card["training"] = {
            "epochs_run": summary.get("epochs_run"), "epochs_planned": cfg.get("epochs"),
            "best_epoch": (summary.get("best") or {}).get("epoch"), "batch": summary.get("batch", cfg.get("batch")),
            "optimizer": cfg.get("optimizer"), "lr": cfg.get("lr"), "weight_decay": cfg.get("weight_decay"),
            "imgsz": cfg.get("imgsz"), "augmentation": cfg.get("augment"), "device": summary.get("device"),
            "train_s_per_epoch": round(float(np.median(steady)), 2) if steady else summary.get("train_s_per_epoch"),
            "epoch_s_with_validation": round(float(np.median([h["epoch_s"] for h in hist[1:]])), 2) if steady
            else summary.get("epoch_s_with_val"),
            "first_epoch_s": hist[0]["epoch_s"] if hist else None, "total_s": summary.get("total_s"),
            "partial_labels": cfg.get("partial"),
            "validation_at_best_epoch": (summary.get("best") or {}).get("val"),
        }
    if evaluation:
        card["evaluation"] = evaluation
    return card


def _input_size(onnx_path, summary):
    # type: (str, dict) -> int
    """The model's square input size: the ONNX file's input, else the run's imgsz, else 416."""
    try:
        from ..engines.onnx_graph import load_onnx
        dims = load_onnx(onnx_path).graph.input[0].type.tensor_type.shape.dim
        if len(dims) == 4 and dims[3].dim_value > 0:
            return int(dims[3].dim_value)
    except Exception:  # no onnx package, or no such file: the run's figures
        pass
    summary = summary or {}
    return int(summary.get("imgsz") or (summary.get("config") or {}).get("imgsz") or 416)


def model_out_path(path, announce=True, inputs=()):
    # type: (str, bool, tuple) -> str
    """`path` checked as where a model is written (--out): an .onnx file name whose model, card (.json) and card text
    (.md) would write over none of `inputs` (the files the run reads) and over no JSON or Markdown file that is not a
    trafficpipe model card (a run's summary.json, a data set's annotations.json, a README.md); TrafficpipeError, one
    line, otherwise. With `announce`, an existing model there is named in the log as replaced, with its card."""
    from ..errors import TrafficpipeError
    from ..log import logger
    if not path.lower().endswith(".onnx"):
        raise TrafficpipeError("--out %s: the model is written as ONNX; give a file name ending in .onnx" % path)
    if os.path.isdir(path):
        raise TrafficpipeError("--out %s is a folder; give a file name ending in .onnx" % path)
    check_out_folder(os.path.dirname(os.path.abspath(path)))
    outputs = _with_card(path)
    for given in inputs:
        if given and any(os.path.realpath(o) == os.path.realpath(given) for o in outputs):
            raise TrafficpipeError("--out %s would write over %s, which this run reads; choose another --out"
                                   % (path, given))
    card, text = outputs[1], outputs[2]
    if (os.path.exists(card) or os.path.exists(text)) and not is_model_card(path):
        raise TrafficpipeError("--out %s would replace %s, which is no trafficpipe model card; choose another --out"
                               % (path, card if os.path.exists(card) else text))
    if announce and os.path.exists(path):
        logger.info("replacing {} and its card", path)
    return path


def is_model_card(model_path):
    # type: (str) -> bool
    """True where the card beside `model_path` is one this project wrote: a JSON object naming the model's family and
    classes."""
    from ..errors import ModelError
    try:
        card = read_card(model_path)
    except ModelError:  # not valid JSON, or no object
        return False
    return card is not None and isinstance(card.get("classes"), list) and "family" in card


def check_out_folder(path):
    # type: (str) -> str
    """`path` checked as an output folder before any work: a folder, or one that can be made (what of it exists is a
    folder and writable); TrafficpipeError ("cannot create output folder ...", one line) otherwise. Creates
    nothing."""
    from ..errors import TrafficpipeError
    from ..paths import folder_problem
    if os.path.exists(path) and not os.path.isdir(path):
        raise TrafficpipeError("cannot create output folder %s: a file of that name exists" % path)
    why = folder_problem(path)
    if why:
        raise TrafficpipeError("cannot create output folder %s: %s" % (path, why))
    return path


def _with_card(onnx_path):
    # type: (str) -> tuple
    return onnx_path, card_path(onnx_path), os.path.splitext(onnx_path)[0] + ".md"


def staging_path(onnx_path):
    # type: (str) -> str
    """Where a model bound for `onnx_path` and its card are written until every step has succeeded: a hidden name in
    the same folder (so that the final rename is atomic) with the same stem (the family is told from the name) and
    the .onnx extension; `commit_outputs` moves them into place, `discard_outputs` removes them."""
    folder, name = os.path.split(os.path.abspath(onnx_path))
    return os.path.join(folder, ".%s.tmp%d.onnx" % (os.path.splitext(name)[0], os.getpid()))


def commit_outputs(staged, onnx_path):
    # type: (str, str) -> None
    """Move the model written at `staged` and its card (where written) onto `onnx_path` and its card, each by an
    atomic rename, the model last; a card of an earlier model at `onnx_path` that the new one lacks is removed."""
    for src, dst in reversed(list(zip(_with_card(staged), _with_card(onnx_path)))):
        if os.path.exists(src):
            os.replace(src, dst)
        elif dst != onnx_path and os.path.exists(dst):
            os.remove(dst)


def discard_outputs(staged):
    # type: (str) -> None
    """Remove what was written at `staged` (a model and its card) after a step failed: what was at the target
    before is left as it was."""
    for p in _with_card(staged):
        try:
            os.remove(p)
        except OSError:
            pass


def write_card(card, onnx_path):
    # type: (dict, str) -> tuple
    """Write `<model>.json` and `<model>.md` next to the ONNX file; returns both paths."""
    jpath = card_path(onnx_path)
    with open(jpath, "w") as f:
        json.dump(card, f, indent=1, sort_keys=False, default=float)
        f.write("\n")
    mpath = os.path.splitext(onnx_path)[0] + ".md"
    with open(mpath, "w") as f:
        f.write(render_markdown(card))
    return jpath, mpath


def _f(v):
    return "-" if v is None else "%.3f" % v


def render_markdown(card):
    # type: (dict) -> str
    """The card for people."""
    b = card["base_model"]
    lines = ["# %s" % card["name"], "",
             "%s detector for the traffic classes %s, fine-tuned by `trafficpipe train`." % (
                 {"yolox": "YOLOX"}.get(card.get("family"), "PicoDet"), ", ".join("`%s`" % c for c in card["classes"])),
             "",
             "- File: `%s` (sha256 `%s`)" % (card["file"], card["sha256"][:16]),
             "- Input: `%s` %s; %s" % (card["input"]["name"], card["input"]["shape"], card["input"]["format"]),
             "- Outputs: %s" % card["outputs"],
             "- Base model: %s, `%s`, license %s (%s)" % (b.get("name"), b.get("file"), b.get("license"),
                                                         b.get("source", "")),
             "- License: %s" % card["license"], ""]
    data = card.get("data")
    if data:
        lines += ["## Data", ""]
        for role in ("train", "validation"):
            d = data.get(role)
            if d:
                src = ", ".join("%s %d" % kv for kv in sorted(d["sources"].items()))
                lines.append("- %s: `%s`, %d images (%s)" % (role, d["name"], d["images"], src))
        lines += ["- Never trained on the validation (dev) set.", ""]
    t = card.get("training")
    if t:
        lines += ["## Training", ""]
        if "epochs_run" in t:  # from the run's summary.json (export without it knows only the checkpoint)
            lines += ["- Epochs: %s run (best: %s), batch %s, %s lr %s, input %s" % (
                          t["epochs_run"], t["best_epoch"], t["batch"], t["optimizer"], t["lr"], t["imgsz"]),
                      "- Time per epoch (median, after the first): %ss of training, %ss with validation; first epoch "
                      "%ss (start-up); %ss in all, on %s" % (t["train_s_per_epoch"], t["epoch_s_with_validation"],
                                                             t.get("first_epoch_s"), t["total_s"], t["device"])]
        if t.get("blend") is not None and t["blend"] < 1.0:
            lines.append("- Exported as a weight-space blend: %.2f * trained (epoch %s) + %.2f * initial weights"
                         % (t["blend"], t.get("checkpoint_epoch"), 1 - t["blend"]))
        if t.get("note"):
            lines.append("- %s" % t["note"])
        lines.append("")
    lines += ["## Method", ""] + ["- %s: %s" % (k.replace("_", " ").capitalize(), v)
                                  for k, v in card["method"].items()] + [""]
    e = card.get("evaluation")
    if e:
        lines += ["## Evaluation (%s)" % e.get("tool", "trafficpipe eval"), "",
                  "Dataset `%s` (%d images), engine %s, conf >= %s, per-class NMS IoU %s. VOC AP50 all-point, each class "
                  "scored on the images where it is labeled exhaustively." % (
                      e["dataset"], e["images"], e["engine"], e["conf"], e["iou"])
                  + (" **Stale**: %s." % e["stale"] if e.get("stale") else ""), "",
                  "| class | AP50 | COCO baseline AP50 | gt |", "|---|---|---|---|"]
        for name, r in e["classes"].items():
            lines.append("| %s | %s | %s | %s |" % (name, _f(r["ap50"]), _f(r.get("baseline_ap50")), r.get("gt", "")))
        lines.append("| mAP50 | %s | %s | |" % (_f(e.get("map50")), _f(e.get("baseline_map50"))))
        rs = e.get("road_sign")
        if rs:
            lines += ["", "Road signs (labeled only partly: stop, speed-limit, crosswalk; scored on the %d images that "
                          "have sign labels, labels taken as complete, so precision is a lower bound): at conf %s "
                          "recall %s, precision %s; AP50 %s." % (rs["images"], rs["conf"], _f(rs["recall"]),
                                                                 _f(rs["precision"]), _f(rs["ap50"]))]
        lines.append("")
    return "\n".join(lines)
