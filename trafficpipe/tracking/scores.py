"""Tracking scores through TrackEval (HOTA, DetA, AssA, MOTA, IDF1, ID switches); trackeval is imported lazily."""
import contextlib
import io
import os
import shutil
import tempfile

from ..errors import TrafficpipeError

METRIC_KEYS = ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW")


def _trackeval():
    try:
        import trackeval
    except ImportError:
        raise TrafficpipeError("scoring tracks needs the trackeval package: pip install trackeval")
    return trackeval


def score_tracks(gt_files, seq_lengths, tracker_files, benchmark="MOT17"):
    # type: (dict, dict, dict, str) -> dict
    """Score MOTChallenge tracker files against ground truth with TrackEval's MotChallenge2DBox.

    `gt_files`: {sequence: its gt.txt}; `seq_lengths`: {sequence: frames}; `tracker_files`: {sequence: path of its
    tracker txt}. `benchmark` "MOT17"
    scores class 1 (pedestrian) with TrackEval's MOT17 preprocessing (distractor classes removed); "MOT15" scores
    every gt box marked considered (files without a class column). Returns {sequence or "COMBINED": {metric: value}}
    with HOTA, DetA, AssA, MOTA, IDF1 in percent and IDSW a count.
    """
    trackeval = _trackeval()
    work = tempfile.mkdtemp(prefix="trafficpipe-trackeval-")
    try:
        data = os.path.join(work, "trackers", "ours", "data")
        os.makedirs(data)
        for seq, path in tracker_files.items():
            shutil.copyfile(path, os.path.join(data, seq + ".txt"))
            os.makedirs(os.path.join(work, "gt", seq, "gt"))
            shutil.copyfile(gt_files[seq], os.path.join(work, "gt", seq, "gt", "gt.txt"))
        ev_cfg = trackeval.Evaluator.get_default_eval_config()
        ev_cfg.update({"USE_PARALLEL": False, "PRINT_RESULTS": False, "PRINT_CONFIG": False, "TIME_PROGRESS": False,
                       "OUTPUT_SUMMARY": False, "OUTPUT_DETAILED": False, "PLOT_CURVES": False,
                       "DISPLAY_LESS_PROGRESS": True, "BREAK_ON_ERROR": True, "RETURN_ON_ERROR": False,
                       "LOG_ON_ERROR": None})
        ds_cfg = trackeval.datasets.MotChallenge2DBox.get_default_dataset_config()
        ds_cfg.update({"GT_FOLDER": os.path.join(work, "gt"), "TRACKERS_FOLDER": os.path.join(work, "trackers"),
                       "OUTPUT_FOLDER": os.path.join(work, "out"), "TRACKERS_TO_EVAL": ["ours"],
                       "BENCHMARK": benchmark, "SPLIT_TO_EVAL": "train", "SKIP_SPLIT_FOL": True,
                       "SEQ_INFO": dict(seq_lengths), "PRINT_CONFIG": False, "TRACKER_SUB_FOLDER": "data"})
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink):
            evaluator = trackeval.Evaluator(ev_cfg)
            dataset = trackeval.datasets.MotChallenge2DBox(ds_cfg)
            metrics = [trackeval.metrics.HOTA({"PRINT_CONFIG": False}),
                       trackeval.metrics.CLEAR({"PRINT_CONFIG": False, "THRESHOLD": 0.5}),
                       trackeval.metrics.Identity({"PRINT_CONFIG": False, "THRESHOLD": 0.5})]
            try:
                res, _ = evaluator.evaluate([dataset], metrics)
            except Exception as e:
                raise TrafficpipeError("TrackEval could not score the tracks: %s"
                                       % (str(e).strip().splitlines() or [type(e).__name__])[0])
        per = res["MotChallenge2DBox"]["ours"]
        out = {}
        for seq, by_class in per.items():
            r = by_class["pedestrian"]
            out[seq] = {"HOTA": 100.0 * float(r["HOTA"]["HOTA"].mean()),
                        "DetA": 100.0 * float(r["HOTA"]["DetA"].mean()),
                        "AssA": 100.0 * float(r["HOTA"]["AssA"].mean()),
                        "MOTA": 100.0 * float(r["CLEAR"]["MOTA"]), "IDF1": 100.0 * float(r["Identity"]["IDF1"]),
                        "IDSW": int(r["CLEAR"]["IDSW"])}
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def gt_benchmark(gt_rows):
    # type: (object) -> str
    """"MOT17" for gt rows with MOTChallenge's class column (col 8: 1..12) and visibility (col 9), else "MOT15"
    (no classes: every box marked considered counts)."""
    import numpy as np
    if gt_rows.shape[1] >= 9:
        cls = gt_rows[:, 7]
        vis = gt_rows[:, 8]
        if np.all(cls == np.round(cls)) and cls.min() >= 1 and cls.max() <= 12 and vis.min() >= 0 and vis.max() <= 1:
            return "MOT17"
    return "MOT15"
