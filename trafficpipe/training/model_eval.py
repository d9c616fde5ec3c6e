"""Scoring a trained model the way `trafficpipe eval` does, plus the road-sign figures that eval cannot give
(road signs are labeled only partly: scored on the images that have sign labels, labels taken as complete, so
recall is exact and precision a lower bound)."""
import os

from ..eval.dataset import Dataset, ImageAnnotation, load_dataset
from ..eval.scoring import score_detections
from ..models.classes import TRAFFIC_CLASSES

ROAD_SIGN = TRAFFIC_CLASSES.index("road_sign")
DEFAULT_CONF = 0.3  # `trafficpipe detect`'s default score threshold


def partial_as_exhaustive(dataset, class_id):
    # type: (Dataset, int) -> Dataset
    """A copy of `dataset` of the images where `class_id` is labeled at all, with it counted as exhaustive."""
    ims = []
    for im in dataset.images:
        if class_id in im.exhaustive or class_id in im.partial:
            ims.append(ImageAnnotation(0, im.image, im.path, im.source, im.width, im.height, im.boxes, im.class_ids,
                                       im.difficult, im.exhaustive | frozenset([class_id]), im.partial,
                                       im.ignore_regions))
    return Dataset(dataset.root, dataset.classes, ims, dataset.name)


def road_sign_figures(dataset, detections, conf=DEFAULT_CONF):
    # type: (Dataset, list, float) -> dict
    """{"images", "gt", "ap50", "recall", "precision", "conf"} of road signs on their partly labeled images, or None."""
    signs = partial_as_exhaustive(dataset, ROAD_SIGN)
    if not len(signs):
        return None
    dets = [detections[i] for i, im in enumerate(dataset.images)
            if ROAD_SIGN in im.exhaustive or ROAD_SIGN in im.partial]
    r = score_detections(signs, dets, classes=["road_sign"]).classes.get("road_sign")
    if r is None:
        return None
    at = r.curve.at_threshold(conf)
    return {"images": len(signs), "gt": r.gt, "ap50": r.ap50, "recall": at["recall"], "precision": at["precision"],
            "conf": conf}


def evaluate_model(model, dataset_dir, conf=0.001, iou=0.45, engine="onnxruntime", threads=0):
    # type: (str, str, float, float, str, int) -> dict
    """Per-class AP50 of `model` on a dataset through trafficpipe.eval.evaluate, plus road-sign figures."""
    from ..detector import Detector
    from ..eval.runner import evaluate
    dataset = load_dataset(dataset_dir)
    with Detector(model=model, engine=engine, conf=conf, iou=iou, threads=threads) as det:
        res = evaluate(dataset, det)
    out = {"tool": "trafficpipe eval (trafficpipe.eval.evaluate)", "model": os.path.basename(det.model_path),
           "dataset": dataset.name,
           "images": len(dataset), "engine": engine, "conf": conf, "iou": iou, "map50": res.map50,
           "classes": {name: {"ap50": r.ap50, "ap": r.ap, "gt": r.gt, "images": r.images}
                       for name, r in res.classes.items()},
           "road_sign": road_sign_figures(dataset, res.detections)}
    return out


def compare(evaluation, baseline):
    # type: (dict, dict) -> dict
    """Adds the baseline's AP50 per class into `evaluation` and whether every class (and road-sign recall) beats it."""
    beats = True
    for name, r in evaluation["classes"].items():
        b = baseline["classes"].get(name)
        r["baseline_ap50"] = b["ap50"] if b else None
        if b and b["ap50"] is not None and (r["ap50"] or 0.0) <= b["ap50"]:
            beats = False
    evaluation["baseline_model"] = baseline.get("model")
    evaluation["baseline_map50"] = baseline.get("map50")
    rs, brs = evaluation.get("road_sign"), baseline.get("road_sign")
    if rs and brs:
        rs["baseline_recall"] = brs["recall"]
        rs["baseline_precision"] = brs["precision"]
        if rs["recall"] <= brs["recall"]:
            beats = False
    evaluation["beats_baseline"] = beats
    return evaluation
