"""Per-class score calibration of a trained model: move a class's operating point to the default threshold.

A detector ships with one score threshold (`trafficpipe detect --conf`, 0.3) for every class, but each class's
precision/recall trade-off sits at its own score. `calibrate` measures, on a labeled set (the training set: never the
set the figures are reported on), a class's operating threshold t* (the best F1, or the highest recall at a minimum
precision) and adds logit(conf) - logit(t*) to that class's logit in the model's head, so that scores of t* become
`conf`.

PicoDet: the class row of the bias of the 4 head convolutions (score = sigmoid(logit)): within the class the order of
the scores is unchanged (the shift is monotonic), so its AP is unchanged, and t* lands exactly at `conf`.
YOLOX: the class row of the bias of the 3 cls convolutions (score = sigmoid(obj) * sigmoid(cls logit)): the shift
acts on the class factor only, which is not the same as shifting the score's logit, so the order of the scores may
change slightly (AP moves a little) and the operating point lands near `conf`, not on it; `achieved_point` measures
where it landed.
"""
import math

import numpy as np

from ..errors import ModelError
from ..eval.dataset import Dataset, ImageAnnotation


def logit(p):
    # type: (float) -> float
    p = min(max(float(p), 1e-6), 1.0 - 1e-6)
    return math.log(p / (1.0 - p))


def labeled_for(dataset, class_id):
    # type: (Dataset, int) -> tuple
    """(dataset of the images where `class_id` is labeled exhaustively, else where it is labeled at all with those
    labels taken as complete; "exhaustive" or "partial")."""
    exh = [im for im in dataset.images if class_id in im.exhaustive]
    if exh:
        return Dataset(dataset.root, dataset.classes, exh, dataset.name), "exhaustive"
    ims = [ImageAnnotation(0, im.image, im.path, im.source, im.width, im.height, im.boxes, im.class_ids, im.difficult,
                           im.exhaustive | frozenset([class_id]), im.partial, im.ignore_regions)
           for im in dataset.images if class_id in im.partial]
    return Dataset(dataset.root, dataset.classes, ims, dataset.name), "partial"


def operating_point(curve, min_precision=None):
    # type: (object, float) -> dict
    """{"threshold", "precision", "recall", "f1"} of a VOC curve: the best-F1 point, or with `min_precision` the
    lowest threshold (highest recall) whose precision reaches it (never splitting tied scores); None threshold when
    no point qualifies."""
    if min_precision is None:
        return curve.best_f1()
    scores = curve.scores
    if not scores.size or not curve.n_pos:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "threshold": None}
    last = np.nonzero(np.concatenate([scores[1:] != scores[:-1], [True]]))[0]
    ok = last[curve.precision[last] >= min_precision]
    if not ok.size:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "threshold": None}
    i = int(ok[-1])
    p, r = float(curve.precision[i]), float(curve.recall[i])
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "threshold": float(scores[i])}


def _class_curve(model, dataset, class_name, engine="onnxruntime", threads=0):
    """(subset scored, its labels kind, the class's VOC result) of `class_name` on the images of `dataset` that label
    it (see `labeled_for`), detections of `model` at conf 0.001."""
    from ..detector import Detector
    from ..eval.runner import evaluate
    from ..eval.scoring import score_detections
    from ..models.classes import TRAFFIC_CLASSES
    cid = TRAFFIC_CLASSES.index(class_name)
    subset, labels = labeled_for(dataset, cid)
    if not len(subset):
        raise ModelError("%s labels no %s: nothing to calibrate on" % (dataset.name, class_name))
    with Detector(model=model, engine=engine, conf=0.001, threads=threads) as det:
        res = evaluate(subset, det)
    r = score_detections(subset, res.detections, classes=[class_name]).classes.get(class_name)
    if r is None or not r.gt:
        raise ModelError("%s has no %s boxes to calibrate on" % (dataset.name, class_name))
    return subset, labels, r


def calibration_point(model, dataset, class_name, min_precision=None, engine="onnxruntime", threads=0):
    # type: (str, Dataset, str, float, str, int) -> dict
    """{"threshold", "precision", "recall", "f1", "images", "gt", "labels", "rule", "ap50"} of `class_name` on `dataset`
    (scored on the images that label it, see `labeled_for`) at its `operating_point`."""
    subset, labels, r = _class_curve(model, dataset, class_name, engine, threads)
    best = operating_point(r.curve, min_precision)
    if best["threshold"] is None:
        raise ModelError("no score threshold gives %s %s on %s" % (
            class_name, "any detection" if min_precision is None else "a precision of %s" % min_precision,
            dataset.name))
    best.update(images=len(subset), gt=r.gt, labels=labels, ap50=r.ap50,
                rule="best F1" if min_precision is None else "highest recall at precision >= %s" % min_precision)
    return best


def achieved_point(model, dataset, class_name, conf, min_precision=None, engine="onnxruntime", threads=0):
    # type: (str, Dataset, str, float, float, str, int) -> dict
    """Where a calibrated `model` puts `class_name`'s operating point on `dataset`: {"threshold" (the score of its
    operating point now, None where no point qualifies), "precision", "recall" (at `conf`, what detect keeps),
    "ap50"}. For YOLOX, whose calibration is approximate."""
    _, _, r = _class_curve(model, dataset, class_name, engine, threads)
    best = operating_point(r.curve, min_precision)
    at = r.curve.at_threshold(conf)
    return {"threshold": None if best["threshold"] is None else round(float(best["threshold"]), 4),
            "precision": round(float(at["precision"]), 4), "recall": round(float(at["recall"]), 4),
            "ap50": None if r.ap50 is None else round(float(r.ap50), 4)}


def _bias_rows(model):
    """(family, [bias initializer names of the convolutions whose output rows are the class logits])."""
    from . import picodet_graph, yolox_graph
    if len(model.graph.output) == 8:
        return "picodet", [lv.conv.input[2] if len(lv.conv.input) > 2 else None
                           for lv in picodet_graph.head_levels(model)]
    return "yolox", [lv.cls.input[2] if len(lv.cls.input) > 2 else None for lv in yolox_graph.head_levels(model)]


def check_shiftable(model, path):
    # type: (object, str) -> str
    """The family of the ModelProto `model` (read from `path`) where its class logits can be shifted: a PicoDet or
    YOLOX head with biases, as train and export write them; ModelError (one line) otherwise, before any scoring."""
    try:
        family, _, _ = _head_biases(model)
    except ModelError as e:
        raise ModelError("%s is no PicoDet or YOLOX model as trafficpipe train and export write them (%s); "
                         "calibrate shifts the class scores of those" % (path, str(e).splitlines()[0]))
    return family


def _head_biases(model):
    """(family, bias initializer names of the class-logit convolutions, name -> initializer); ModelError where the
    head is not one of ours or has no biases."""
    family, names = _bias_rows(model)
    inits = {i.name: i for i in model.graph.initializer}
    if any(n is None or n not in inits for n in names):
        raise ModelError("the head convolutions have no bias to shift")
    return family, names, inits


def shift_class_logit(model, class_index, delta):
    # type: (object, int, float) -> str
    """Add `delta` to class `class_index`'s logit in every head level of the ModelProto (in place); its family."""
    from onnx import numpy_helper
    family, names, inits = _head_biases(model)
    for name in names:
        b = numpy_helper.to_array(inits[name]).astype(np.float32).copy()
        b[class_index] += np.float32(delta)
        inits[name].CopyFrom(numpy_helper.from_array(b, name))
    return family
