"""Scoring detectors on labeled traffic sets (the `trafficpipe eval` command and its library API).

Library API (stable):

- ``load_dataset(path) -> Dataset``: read and validate a folder holding ``annotations.json`` (traffic-dev format);
  raises DatasetError with one line. ``Dataset.subset(indices=None, source=None, limit=None)`` picks images.
- ``evaluate(dataset, detector, batch=1, classes=None, progress=False, tiles=None, config=None) -> EvalResult``: runs
  a Detector (left open) over every image through the Pipeline (``config``: a RunConfig, default the CPU defaults at
  ``batch``; ``tiles``: a TilePlan), each image exactly once, and scores it.
- ``score_detections(dataset, detections_by_image, classes=None) -> EvalResult``: scores detections computed
  elsewhere; ``detections_by_image`` is a list in dataset order or a dict keyed by the image name in
  annotations.json (e.g. ``"images/kitti/000000.jpg"``); values are Detections, ``(boxes, scores, class_ids)`` or
  ``[{"cls", "score", "box"}]``.
- ``EvalResult``: ``map50`` (VOC AP50, all-point, mean over scored classes), ``map``
  (COCO AP@[.5:.95]), ``map75``, ``map_small/medium/large``, ``classes[name]`` (ClassResult: ``ap50``, ``ap``,
  ``ap75``, ``ap_small/medium/large``, ``precision``/``recall``/``f1``/``threshold`` at the best F1, ``curve``),
  ``sources[name]``, ``skipped``, ``to_dict()``.
- ``write_report(result, out_dir, dataset=None)``: report.json, PR-curve PNGs, detection-results/*.txt;
  ``format_table(result)``: the terminal table.

Rules: a class is scored only on images whose ``exhaustive`` list holds it; a detection matched to a ``difficult``
box, or a false positive lying at least half inside an ``ignore_regions`` box, counts neither way.

Example::

    from trafficpipe import Detector
    from trafficpipe.eval import evaluate
    with Detector("picodet-s-416", conf=0.001) as det:
        print(evaluate("../shared/data/traffic-dev", det).map50)
"""
from .dataset import Dataset, ImageAnnotation, load_dataset
from .report import format_table, write_report
from .runner import evaluate
from .scoring import ClassResult, EvalResult, score_detections

__all__ = ["Dataset", "ImageAnnotation", "load_dataset", "evaluate", "score_detections", "EvalResult", "ClassResult",
           "write_report", "format_table"]
