"""Scoring detections against a Dataset: VOC AP50, COCO AP, precision/recall/F1 per class, overall and per source."""
import numpy as np

from ..models.classes import TRAFFIC_CLASSES
from .coco import AREA_RANGES, IOU_THRESHOLDS, MAX_DETS, coco_precision, coco_summary
from .dataset import Dataset, load_dataset
from .matching import match_coco, match_voc
from .voc import VocCurve

_EMPTY_BOXES = np.zeros((0, 4), np.float64)


class ClassResult(object):
    """Figures of one class. VOC: `ap50`, `curve` (VocCurve at IoU .5), `precision`/`recall`/`f1`/`threshold` at
    the best-F1 score threshold, `max_recall`. COCO: `ap`, `ap50_coco`, `ap75`, `ap_small`, `ap_medium`, `ap_large`,
    `ar`. Counts: `images` (images where the class is scored), `gt`, `difficult`, `detections`.
    """

    def __init__(self, name, images, gt, difficult, detections, curve, coco):
        self.name = name
        self.images = images
        self.gt = gt
        self.difficult = difficult
        self.detections = detections
        self.curve = curve
        self.ap50 = curve.ap
        best = curve.best_f1()
        self.precision = best["precision"]
        self.recall = best["recall"]
        self.f1 = best["f1"]
        self.threshold = best["threshold"]
        self.max_recall = float(curve.recall[-1]) if curve.recall.size else 0.0
        self.at_conf = curve.at_threshold(0.3)
        self.ap = coco["ap"]
        self.ap50_coco = coco["ap50"]
        self.ap75 = coco["ap75"]
        self.ap_small = coco["ap_small"]
        self.ap_medium = coco["ap_medium"]
        self.ap_large = coco["ap_large"]
        self.ar = coco["ar"]

    def to_dict(self):
        # type: () -> dict
        return {"images": self.images, "gt": self.gt, "difficult": self.difficult, "detections": self.detections,
                "ap50": self.ap50, "ap": self.ap, "ap50_coco": self.ap50_coco, "ap75": self.ap75,
                "ap_small": self.ap_small, "ap_medium": self.ap_medium, "ap_large": self.ap_large, "ar100": self.ar,
                "best_f1": {"precision": self.precision, "recall": self.recall, "f1": self.f1,
                            "threshold": self.threshold},
                "at_conf_0.3": {"precision": self.at_conf["precision"], "recall": self.at_conf["recall"]},
                "max_recall": self.max_recall}


class EvalResult(object):
    """What `score_detections` / `evaluate` return.

    `map50` (VOC AP50 mean over the scored classes that have ground truth), `map` (COCO
    AP@[.5:.95]), `map75`, `map_small`, `map_medium`, `map_large`; `classes`: name -> ClassResult for every scored
    class; `skipped`: name -> why a class was not scored; `sources`: name -> {"images", "classes": {name: {ap50, ap,
    gt}}, "map50", "map"}; `run`: details of the detection run (filled by `evaluate`); `to_dict()` for report.json.
    """

    def __init__(self, dataset_name, n_images, classes, skipped, sources, settings):
        self.dataset = dataset_name
        self.n_images = n_images
        self.classes = classes
        self.skipped = skipped
        self.sources = sources
        self.settings = settings
        self.run = {}
        self.detections = None  # per image, dataset order (set by evaluate)
        self.image_names = None
        self.map50 = _mean([c.ap50 for c in classes.values()])
        self.map = _mean([c.ap for c in classes.values()])
        self.map50_coco = _mean([c.ap50_coco for c in classes.values()])
        self.map75 = _mean([c.ap75 for c in classes.values()])
        self.map_small = _mean([c.ap_small for c in classes.values()])
        self.map_medium = _mean([c.ap_medium for c in classes.values()])
        self.map_large = _mean([c.ap_large for c in classes.values()])

    def ap50(self, cls):
        # type: (str) -> float
        """VOC AP50 of one class (None when not scored)."""
        c = self.classes.get(cls)
        return c.ap50 if c is not None else None

    def to_dict(self):
        # type: () -> dict
        return {"dataset": self.dataset, "images": self.n_images,
                "overall": {"map50": self.map50, "map": self.map, "map50_coco": self.map50_coco, "map75": self.map75,
                            "map_small": self.map_small, "map_medium": self.map_medium,
                            "map_large": self.map_large},
                "classes": {k: v.to_dict() for k, v in self.classes.items()},
                "skipped_classes": dict(self.skipped), "sources": self.sources, "settings": self.settings,
                "run": self.run}

    def __repr__(self):
        return "EvalResult(mAP50=%s, mAP=%s, %d classes)" % (_fmt(self.map50), _fmt(self.map), len(self.classes))


def _mean(values):
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def _fmt(v):
    return "-" if v is None else "%.4f" % v


def as_arrays(dets):
    # type: (object) -> tuple
    """(boxes float64 [N,4], scores float64 [N], class ids int [N]) from a Detections, a (boxes, scores, class_ids)
    tuple or a list of {"cls", "score", "box"} records."""
    if dets is None:
        return _EMPTY_BOXES, np.zeros((0,)), np.zeros((0,), np.int64)
    if hasattr(dets, "boxes") and hasattr(dets, "scores") and hasattr(dets, "class_ids"):
        b, s, c = dets.boxes, dets.scores, dets.class_ids
    elif isinstance(dets, tuple) and len(dets) == 3:
        b, s, c = dets
    else:
        recs = list(dets)
        b = [r["box"] for r in recs]
        s = [r["score"] for r in recs]
        c = [TRAFFIC_CLASSES.index(r["cls"]) if isinstance(r["cls"], str) else int(r["cls"]) for r in recs]
    b = np.asarray(b, np.float64).reshape(-1, 4)
    s = np.asarray(s, np.float64).reshape(-1)
    c = np.asarray(c, np.int64).reshape(-1)
    if not (b.shape[0] == s.shape[0] == c.shape[0]):
        raise ValueError("detections have %d boxes, %d scores and %d class ids" % (b.shape[0], s.shape[0], c.shape[0]))
    return b, s, c


def _lookup(dataset, detections_by_image):
    """Detections per dataset image, in dataset order; every image must have an entry."""
    n = len(dataset)
    if isinstance(detections_by_image, (list, tuple)):
        if len(detections_by_image) != n:
            raise ValueError("got detections of %d images for a dataset of %d" % (len(detections_by_image), n))
        return list(detections_by_image)
    out = []
    missing = []
    for im in dataset.images:
        for key in (im.image, im.path, im.index):
            if key in detections_by_image:
                out.append(detections_by_image[key])
                break
        else:
            missing.append(im.image)
    if missing:
        raise ValueError("no detections given for %d of %d images (first: %s); pass an empty list for an image "
                         "without detections" % (len(missing), n, missing[0]))
    return out


class _PerImage(object):
    """Matches of one (image, class): VOC scores + flags, COCO scores + matches per area range."""

    __slots__ = ("voc_scores", "voc_flags", "n_pos", "n_difficult", "n_det", "coco")

    def __init__(self, voc_scores, voc_flags, n_pos, n_difficult, n_det, coco):
        self.voc_scores = voc_scores
        self.voc_flags = voc_flags
        self.n_pos = n_pos
        self.n_difficult = n_difficult
        self.n_det = n_det
        self.coco = coco  # area name -> (scores, dtm, dt_ig, n_pos)


def _match_image(im, k, boxes, scores, iou_threshold, region_overlap):
    sel = im.class_ids == k
    gt, diff = im.boxes[sel], im.difficult[sel]
    order = np.argsort(-scores, kind="mergesort")
    boxes, scores = boxes[order], scores[order]
    flags = match_voc(boxes, gt, diff, im.ignore_regions, iou_threshold, region_overlap)
    top, top_scores = boxes[:MAX_DETS], scores[:MAX_DETS]
    coco = {}
    for name, rng in AREA_RANGES:
        dtm, dt_ig, n_pos = match_coco(top, gt, diff, im.ignore_regions, IOU_THRESHOLDS, rng)
        coco[name] = (top_scores, dtm, dt_ig, n_pos)
    return _PerImage(scores, flags, int(np.count_nonzero(~diff)), int(np.count_nonzero(diff)), int(scores.shape[0]),
                     coco)


def _class_result(name, per_image):
    if per_image:
        scores = np.concatenate([p.voc_scores for p in per_image])
        flags = np.concatenate([p.voc_flags for p in per_image])
    else:
        scores, flags = np.zeros((0,)), np.zeros((0,), np.int8)
    n_pos = sum(p.n_pos for p in per_image)
    curve = VocCurve(scores, flags, n_pos)
    precision = {}
    recall_all = None
    for area, _ in AREA_RANGES:
        items = [p.coco[area] for p in per_image]
        npig = sum(it[3] for it in items)
        if items:
            cs = np.concatenate([it[0] for it in items])
            dtm = np.concatenate([it[1] for it in items], axis=1)
            dig = np.concatenate([it[2] for it in items], axis=1)
        else:
            none = np.zeros((len(IOU_THRESHOLDS), 0), bool)
            cs, dtm, dig = np.zeros((0,)), none, none
        prec, rec = coco_precision(cs, dtm, dig, npig)
        precision[area] = prec
        if area == "all":
            recall_all = rec
    coco = coco_summary(precision, recall_all)
    return ClassResult(name, len(per_image), n_pos, sum(p.n_difficult for p in per_image),
                       sum(p.n_det for p in per_image), curve, coco)


def score_detections(dataset, detections_by_image, classes=None, iou_threshold=0.5, region_overlap=0.5):
    # type: (object, object, object, float, float) -> EvalResult
    """Score already-computed detections against a dataset.

    `dataset`: a Dataset or a dataset folder. `detections_by_image`: a list aligned with `dataset.images`, or a dict
    keyed by the image's name in annotations.json (e.g. "images/kitti/000000.jpg"), its absolute path or its index;
    values are Detections, (boxes, scores, class_ids) tuples (class ids index TRAFFIC_CLASSES, boxes xyxy pixels) or
    lists of {"cls", "score", "box"} records. `classes`: the class names to score (default: the dataset's; a class
    is scored only on images whose `exhaustive` list holds it). `iou_threshold` is VOC's match IoU; a detection that
    would be a false positive but lies at least `region_overlap` inside an ignore region is ignored.
    """
    if not isinstance(dataset, Dataset):
        dataset = load_dataset(dataset)
    names = list(dataset.classes) if classes is None else [c for c in TRAFFIC_CLASSES if c in set(classes)]
    dets = [as_arrays(d) for d in _lookup(dataset, detections_by_image)]
    per_class = {}  # class name -> {image index: _PerImage}
    for name in names:
        k = TRAFFIC_CLASSES.index(name)
        rows = {}
        for im, (b, s, c) in zip(dataset.images, dets):
            if k not in im.exhaustive:
                continue
            sel = c == k
            rows[im.index] = _match_image(im, k, b[sel], s[sel], iou_threshold, region_overlap)
        per_class[name] = rows
    results, skipped = {}, {}
    for name in names:
        rows = per_class[name]
        if not rows:
            skipped[name] = "no image lists it as exhaustive"
            continue
        res = _class_result(name, [rows[i] for i in sorted(rows)])
        if not res.gt:
            skipped[name] = "no ground truth on the %d image(s) where it is exhaustive" % res.images
            continue
        results[name] = res
    sources = {}
    for src in dataset.sources:
        idx = [im.index for im in dataset.images if im.source == src]
        entry = {"images": len(idx), "classes": {}}
        for name in results:
            rows = per_class[name]
            sub = [rows[i] for i in idx if i in rows]
            if not sub or not sum(p.n_pos for p in sub):
                continue
            r = _class_result(name, sub)
            entry["classes"][name] = {"ap50": r.ap50, "ap": r.ap, "gt": r.gt, "images": r.images}
        entry["map50"] = _mean([v["ap50"] for v in entry["classes"].values()])
        entry["map"] = _mean([v["ap"] for v in entry["classes"].values()])
        sources[src] = entry
    settings = {"voc_iou": iou_threshold, "ignore_region_overlap": region_overlap, "coco_max_dets": MAX_DETS,
                "classes": names}
    return EvalResult(dataset.name, len(dataset), results, skipped, sources, settings)
