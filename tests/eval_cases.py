"""Helpers for the eval tests: tiny synthetic datasets written in the traffic-dev format, and pycocotools as the
independent COCO reference (difficult boxes as ignored ground truth, ignore regions as crowd regions)."""
import contextlib
import io
import json
import os

import numpy as np

from trafficpipe.eval import load_dataset
from trafficpipe.models.classes import TRAFFIC_CLASSES


def write_dataset(folder, images, classes=("vehicle", "pedestrian", "bicycle", "road_sign", "traffic_light"),
                  make_files=False):
    """images: dicts with name, boxes [(cls, xyxy[, difficult])], exhaustive, optional source/partial/ignore."""
    recs = []
    for im in images:
        rec = {"image": "images/%s/%s.jpg" % (im.get("source", "src"), im["name"]),
               "source": im.get("source", "src"), "width": im.get("width", 640), "height": im.get("height", 480),
               "boxes": [{"cls": b[0], "xyxy": list(b[1]), "difficult": bool(b[2]) if len(b) > 2 else False}
                         for b in im.get("boxes", [])],
               "exhaustive": list(im.get("exhaustive", ["vehicle"])), "partial": list(im.get("partial", []))}
        if im.get("ignore"):
            rec["ignore_regions"] = [list(r) for r in im["ignore"]]
        recs.append(rec)
        if make_files:
            path = os.path.join(folder, rec["image"])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            import cv2
            cv2.imwrite(path, np.zeros((8, 8, 3), np.uint8))
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "annotations.json"), "w") as f:
        json.dump({"classes": list(classes), "images": recs}, f)
    return load_dataset(folder, check_images=make_files)


def dets(*items):
    """(boxes, scores, class_ids) from (cls, score, xyxy) items."""
    if not items:
        return np.zeros((0, 4)), np.zeros((0,)), np.zeros((0,), np.int64)
    return (np.array([i[2] for i in items], np.float64), np.array([i[1] for i in items], np.float64),
            np.array([TRAFFIC_CLASSES.index(i[0]) for i in items], np.int64))


def pycocotools_stats(dataset, detections, cls):
    """pycocotools' [AP, AP50, AP75, APs, APm, APl] of one class, scored on the images where it is exhaustive."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    class DifficultIgnored(COCOeval):
        def _prepare(self):
            COCOeval._prepare(self)
            for gts in self._gts.values():
                for g in gts:
                    if g.get("difficult"):
                        g["ignore"] = 1

    k = TRAFFIC_CLASSES.index(cls)
    images = [im for im in dataset.images if k in im.exhaustive]
    gt = {"images": [{"id": im.index + 1, "width": im.width, "height": im.height} for im in images],
          "categories": [{"id": 1, "name": cls}], "annotations": []}
    dt = []
    for im in images:
        for b, c, d in zip(im.boxes.tolist(), im.class_ids.tolist(), im.difficult.tolist()):
            if c == k:
                w, h = b[2] - b[0], b[3] - b[1]
                gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": im.index + 1,
                                          "category_id": 1, "bbox": [b[0], b[1], w, h], "area": w * h,
                                          "iscrowd": 0, "difficult": bool(d)})
        for r in im.ignore_regions.tolist():
            w, h = r[2] - r[0], r[3] - r[1]
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": im.index + 1, "category_id": 1,
                                      "bbox": [r[0], r[1], w, h], "area": w * h, "iscrowd": 1})
        b, s, c = detections[im.index]
        for box, score in zip(np.asarray(b)[np.asarray(c) == k].tolist(), np.asarray(s)[np.asarray(c) == k].tolist()):
            dt.append({"image_id": im.index + 1, "category_id": 1, "score": score,
                       "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]]})
    if not dt:
        return None
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dt)
        ev = DifficultIgnored(coco_gt, coco_dt, "bbox")
        ev.params.imgIds = [im.index + 1 for im in images]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [None if v < 0 else float(v) for v in ev.stats[:6]]
