"""`trafficpipe eval DATASET`: score a model and engine on a labeled traffic set (VOC AP50, COCO AP, per source)."""
import os
import sys

from ..log import logger


def add_parser(sub):
    from ..cli_values import batch_size, positive_int
    from ..commands.options import add_model_options, add_tile_options
    p = sub.add_parser("eval", help="score a model on a labeled traffic set (mAP50, COCO AP, per class and source)",
                       description="Detect every image of DATASET (a folder with annotations.json in the traffic-dev "
                                   "format, or MOTChallenge sequences: pedestrians only) through the pipeline and score it: VOC AP50 (all-point), COCO "
                                   "AP@[.5:.95], AP75 and AP by size, precision/recall at the best F1 threshold, "
                                   "per class and per source. Writes report.json, table.txt, PR curves and "
                                   "detection-results/*.txt under --out.")
    p.add_argument("dataset", metavar="DATASET",
                   help="dataset folder (holding annotations.json), or a MOTChallenge sequence (img1/, gt/gt.txt, "
                        "seqinfo.ini; pedestrians scored) or a folder of them")
    p.add_argument("--out", default=None, help="output folder (default: eval-<dataset>-<model>)")
    p.add_argument("--batch", type=batch_size, default=1, help="images per inference call (default 1)")
    p.add_argument("--limit", type=positive_int, default=None, help="score only the first N images")
    p.add_argument("--source", default=None, help="score only the images of this source")
    p.add_argument("--no-plots", action="store_true", help="skip the precision-recall PNGs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_model_options(p, conf=0.001)
    add_tile_options(p)
    p.add_argument("--max-det", type=positive_int, default=300, help="detections kept per image (default %(default)s)")
    return p


def run(args):
    from ..commands.options import make_detector, tile_plan
    from ..errors import DatasetError
    from .sets import load_labeled_set
    from .report import check_output_folder, format_table, write_report
    from .runner import evaluate

    if args.batch < 1:
        raise DatasetError("--batch must be at least 1")
    tiles = tile_plan(args)
    dataset = load_labeled_set(args.dataset)
    if args.source is not None:
        if args.source not in dataset.sources:
            raise DatasetError("dataset %s has no source %r; its sources are %s"
                               % (dataset.root, args.source, ", ".join(dataset.sources)))
        dataset = dataset.subset(source=args.source)
    if args.limit is not None:
        dataset = dataset.subset(limit=max(1, args.limit))
    _check_something_scored(dataset, args.classes)
    detector = make_detector(args, max_det=args.max_det)
    try:
        out = args.out or "eval-%s-%s" % (dataset.name, os.path.splitext(os.path.basename(detector.model_path))[0])
        check_output_folder(out)  # before detecting: a run must not fail only at its end
        logger.info("eval: {} images of {} with {} on {} (conf {})", len(dataset), dataset.root,
                    os.path.basename(detector.model_path), detector.engine.name, args.conf)
        progress = not args.no_progress and (sys.stderr.isatty() or os.environ.get("TRAFFICPIPE_PROGRESS") == "1")
        result = evaluate(dataset, detector, batch=args.batch, progress=progress, tiles=tiles)
    finally:
        detector.close()
    write_report(result, out, plots=not args.no_plots)
    sys.stdout.write(format_table(result))
    sys.stdout.flush()
    logger.info("mAP50 {} (VOC, {} classes), COCO mAP {}; {} images at {} img/s; report in {}",
                "%.4f" % result.map50 if result.map50 is not None else "-", len(result.classes),
                "%.4f" % result.map if result.map is not None else "-", len(dataset), result.run.get("fps"),
                os.path.abspath(out))
    return 0


def _check_something_scored(dataset, classes):
    """DatasetError (one line) before any detection where no image of `dataset` labels any of `classes` (--classes)
    completely: a class is scored only where it is, so the run would score nothing."""
    from ..errors import DatasetError
    from ..models.classes import TRAFFIC_CLASSES, parse_classes
    wanted = parse_classes(classes)
    labeled = set(TRAFFIC_CLASSES[k] for im in dataset.images for k in im.exhaustive)  # class ids
    if not labeled & set(wanted):
        raise DatasetError("nothing to score: no image of %s labels %s completely (a class is scored only on the "
                           "images whose \"exhaustive\" lists it; labeled completely there: %s)" % (
                               dataset.root, " or ".join(wanted), ", ".join(sorted(labeled)) or "none"))
