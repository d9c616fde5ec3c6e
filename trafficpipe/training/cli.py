"""`trafficpipe train DATASET --base MODEL`: fine-tune a pretrained PicoDet or YOLOX into the five traffic classes."""
import os
import sys

from ..errors import TrafficpipeError
from ..log import logger


def device_name(text):
    # type: (str) -> str
    """cpu, cuda or cuda:N (argparse type)."""
    import argparse
    import re
    name = text.strip().lower()
    if not re.match(r"^(cpu|cuda(:\d+)?)$", name):
        raise argparse.ArgumentTypeError("expected cpu, cuda or cuda:N, got %r" % text)
    return name


def default_workers():
    # type: () -> int
    """Data-loading processes: 4, at most the cores this process may use less one (the training loop keeps one)."""
    from ..cpu import cores_available
    return max(0, min(4, int(cores_available()) - 1))


#: the files a run writes besides its model and card (OUT/<name>.onnx, .json, .md)
RUN_FILES = ("best.pt", "history.json", "summary.json")


def out_folder(text):
    # type: (str) -> str
    """An output folder (argparse type): not an empty name."""
    import argparse
    if not str(text).strip():
        raise argparse.ArgumentTypeError("expected a folder, got an empty name")
    return str(text)


def model_name(text):
    # type: (str) -> str
    """The exported model's name (argparse type): a plain file name, a trailing .onnx dropped (the model is written
    as NAME.onnx), not one whose card (NAME.json) would be the run's history.json or summary.json."""
    import argparse
    from ..cli_values import file_name
    name = file_name(text)
    if name.lower().endswith(".onnx"):
        name = file_name(name[:-len(".onnx")])
    if name.lower() + ".json" in RUN_FILES:
        raise argparse.ArgumentTypeError("%r would write the model card over the run's own %s.json; choose another "
                                         "name" % (text, name.lower()))
    return name


def add_parser(sub):
    from ..cli_values import nonneg_float, nonneg_int, positive_float, positive_int, unit_interval
    p = sub.add_parser("train", help="fine-tune a pretrained PicoDet or YOLOX into the traffic classes (needs torch)",
                       description="Fine-tune a pretrained PicoDet or YOLOX (ONNX, COCO classes; the family is told "
                                   "from the graph) into vehicle, pedestrian, "
                                   "bicycle, road_sign and traffic_light on DATASET (a folder with annotations.json "
                                   "in the traffic-dev format; partial labels respected), validating on --val after "
                                   "every epoch. Writes OUT/best.pt, OUT/<name>.onnx with its model card "
                                   "(.json, .md), OUT/history.json and OUT/summary.json. Needs torch and onnx2torch.")
    p.add_argument("dataset", metavar="DATASET", help="training set folder (never the dev set)")
    p.add_argument("--base", default="picodet_s_416_coco.onnx",
                   help="pretrained PicoDet or YOLOX ONNX (e.g. yolox_nano_416.onnx): path, file name in the model "
                        "folders or alias (default %(default)s)")
    p.add_argument("--val", default=None, metavar="DATASET", help="validation set folder (e.g. ../shared/data/traffic-dev)")
    p.add_argument("--epochs", type=positive_int, default=30, help="epochs (default %(default)s)")
    p.add_argument("--imgsz", type=positive_int, default=416,
                   help="input size; must match the base model (default %(default)s)")
    p.add_argument("--device", type=device_name, default=None,
                   help="cuda, cuda:N or cpu (default: cuda when available)")
    p.add_argument("--out", type=out_folder, default="runs/train",
                   help="output folder (default %(default)s; where it holds files a run writes, the first free "
                        "OUT2, OUT3, ...)")
    p.add_argument("--name", type=model_name, default=None,
                   help="exported model name, without .onnx (default: trafficpipe_picodet_s_416 or "
                        "trafficpipe_yolox_nano_416, after the base's family and input size)")
    p.add_argument("--batch", type=positive_int, default=32, help="images per step (default %(default)s)")
    p.add_argument("--optimizer", default="adamw", choices=("adamw", "sgd"), help="optimizer (default %(default)s)")
    p.add_argument("--lr", type=positive_float, default=3e-4, help="peak learning rate (default %(default)s)")
    p.add_argument("--weight-decay", type=nonneg_float, default=0.01, help="weight decay (default %(default)s)")
    p.add_argument("--warmup-steps", type=nonneg_int, default=100, help="linear warm-up steps (default %(default)s)")
    p.add_argument("--workers", type=nonneg_int, default=None,
                   help="data-loading processes (default: 4, at most the cores less one; 0 loads in the main process)")
    p.add_argument("--time-budget", type=nonneg_float, default=0.0, metavar="MIN",
                   help="fit the run into MIN minutes: fewer epochs when they would not fit (default: no limit)")
    p.add_argument("--trainable", default="all", choices=("all", "head"),
                   help="train all weights or only the head convolutions (PicoDet 4, YOLOX 9) (default %(default)s)")
    p.add_argument("--no-distill", dest="distill", action="store_false",
                   help="mask the loss of classes an image does not label at all, instead of distilling the base "
                        "model's scores there")
    p.add_argument("--partial", default="distill", choices=("mask", "distill"),
                   help="unassigned cells of a class an image labels only partly: distill = the base model's score "
                        "as target (default: unlabeled objects the base model sees are not negatives, background "
                        "stays background), mask = no loss there")
    p.add_argument("--tile-crop", type=unit_interval, default=0.0, metavar="P",  # expert
                   help="share of training crops that are square windows of about the input size in the image's own "
                        "pixels, as the tiles of tiled inference see objects (default 0)")
    p.add_argument("--boost", default=None, metavar="CLASS=F[,CLASS=F]",  # expert
                   help="sample the images holding CLASS F times more often (e.g. pedestrian=2,traffic_light=2)")
    p.add_argument("--copy-paste", default=None, metavar="CLASS=P[,CLASS=P]",  # expert
                   help="paste 1-3 labeled objects of CLASS, cut from other training images, into a share P of the "
                        "training views (e.g. traffic_light=0.5)")
    p.add_argument("--drawn-lights", type=unit_interval, default=0.0, metavar="P",  # expert
                   help="paste 1-3 drawn traffic lights (varied housings, lamps, backplates, visors, poles) into a "
                        "share P of the training views (default 0)")
    p.add_argument("--max-images", type=nonneg_int, default=0, help="train on the first N images only (smoke runs)")
    p.add_argument("--val-limit", type=nonneg_int, default=0, help="validate on the first N images only (smoke runs)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args):
    with _stop_once():  # a second Ctrl-C or SIGTERM while the run stops is ignored
        return _run(args)


def _run(args):
    try:
        import torch  # noqa: F401
        from .trainer import TrainConfig, train
    except ImportError as e:
        from ..torchdeps import INSTALL_HINT
        raise TrafficpipeError("trafficpipe train needs torch and onnx2torch (%s): %s" % (e, INSTALL_HINT))
    from ..eval.dataset import load_dataset
    from ..models.registry import find_model
    from .augment import AugmentConfig
    from .card import build_card, check_out_folder, dataset_facts, write_card

    boost = parse_class_values(args.boost, "--boost", "VALUE > 0")
    paste = parse_class_values(args.copy_paste, "--copy-paste", "0 < VALUE <= 1", upper=1.0)
    train_set = load_dataset(args.dataset)  # a bad set ends here, before the base model loads
    val_set = load_dataset(args.val) if args.val else None
    base = find_model(args.base)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    workers = default_workers() if args.workers is None else args.workers
    names = [args.name] if args.name else [model_name_for(fam, args.imgsz) for fam in _families()]
    out = check_out_folder(run_folder(args.out, _run_files(names)))  # before the base model loads, not after an epoch
    cfg = TrainConfig(epochs=args.epochs, batch=args.batch, imgsz=args.imgsz, optimizer=args.optimizer, lr=args.lr,
                      weight_decay=args.weight_decay, warmup_steps=args.warmup_steps, workers=workers,
                      time_budget=args.time_budget * 60.0, trainable=args.trainable, max_images=args.max_images,
                      val_limit=args.val_limit, distill=args.distill, partial=args.partial,
                      seed=args.seed, augment=AugmentConfig(tile_p=args.tile_crop, tile_px=args.imgsz),
                      boost=boost, paste=paste, drawn_lights=args.drawn_lights)
    progress = not args.no_progress and sys.stderr.isatty()
    summary = train(args.dataset, base, args.val, out, device, cfg,
                    export_name=args.name + ".onnx" if args.name else None, progress=progress)
    train_facts = dataset_facts(train_set)
    if summary["images"] != train_facts["images"]:
        train_facts["images_used"] = summary["images"]
    val_facts = dataset_facts(val_set) if val_set is not None else None
    card = build_card(summary["onnx"], _classes(), base, summary, None, train_facts, val_facts,
                      family=summary.get("family"))
    paths = write_card(card, summary["onnx"])
    sys.stdout.write("best epoch %d of %d: %s\nmodel %s\ncard %s\n" % (
        summary["best"]["epoch"], summary["epochs_run"], _best_text(summary["best"]), summary["onnx"],
        ", ".join(paths)))
    logger.info("score it with: trafficpipe eval DATASET --model {}", os.path.abspath(summary["onnx"]))
    return 0


def model_name_for(family, imgsz):
    # type: (str, int) -> str
    """The default model name of a run of `family` at input size `imgsz` (trafficpipe_picodet_s_320, ...)."""
    from .bases import BASES
    from .trainer import model_name
    return model_name(BASES[family], imgsz)


def _families():
    from .bases import BASES
    return sorted(BASES)


def _run_files(names):
    # type: (list) -> tuple
    """Every file a run writes: RUN_FILES and, for each candidate model name, NAME.onnx and its card."""
    return RUN_FILES + tuple(n + ext for n in names for ext in (".onnx", ".json", ".md"))


def run_folder(path, files=RUN_FILES):
    # type: (str, tuple) -> str
    """`path`, or where it already holds any of `files` (the files a run writes: an earlier run, or a file of the
    same name), the first free `path`2, `path`3, ... (`path`-2 where it ends in a digit): nothing there is ever
    overwritten. Logs the choice."""
    def taken(p):
        return any(os.path.lexists(os.path.join(p, f)) for f in files)
    if not taken(path):
        return path
    stem = path.rstrip("/\\")
    stem += "-" if stem[-1:].isdigit() else ""  # runs/train -> runs/train2; runs/v1 -> runs/v1-2
    n = 2
    while taken("%s%d" % (stem, n)):
        n += 1
    out = "%s%d" % (stem, n)
    if any(os.path.lexists(os.path.join(path, f)) for f in RUN_FILES):
        logger.info("{} holds an earlier run; this one writes to {}", path, out)
    else:
        logger.info("{} holds {}, a file of the name this run would write; this one writes to {}", path,
                    next(f for f in files if os.path.lexists(os.path.join(path, f))), out)
    return out


class _stop_once(object):
    """While a run goes on: the first Ctrl-C (SIGINT) or SIGTERM stops it as always (KeyboardInterrupt, Terminated)
    and from then on both are ignored while it stops: a second one would otherwise break off the shutdown with a
    traceback, or end the process by the signal instead of exit status 130 or 143. Main thread only; the handlers
    are put back when the run ends without a stop."""

    def __enter__(self):
        import signal
        import threading
        self.saved = {}
        self.stopped = False
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in (signal.SIGINT, signal.SIGTERM):
            old = signal.getsignal(sig)
            if old not in (signal.SIG_IGN, signal.SIG_DFL, None):  # a handler that stops the run: ours goes first
                self.saved[sig] = signal.signal(sig, self._stop)
        return self

    def _stop(self, signum, frame):
        import signal
        from ..errors import Terminated
        for sig in self.saved:
            signal.signal(sig, signal.SIG_IGN)
        self.stopped = True
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    def __exit__(self, *exc):
        import signal
        if not self.stopped:
            for sig, old in self.saved.items():
                signal.signal(sig, old)
        return False


def parse_class_values(text, flag="--boost", rule="VALUE > 0", upper=None):
    # type: (str, str, str, float) -> dict
    """{class: value} from "pedestrian=2,traffic_light=1.5" (values > 0, at most `upper`); TrafficpipeError (one
    line, naming `flag` and `rule`) on a bad entry."""
    from ..models.classes import TRAFFIC_CLASSES
    out = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, _, value = part.partition("=")
        name = name.strip()
        try:
            factor = float(value)
        except ValueError:
            factor = -1.0
        if name not in TRAFFIC_CLASSES or factor <= 0 or (upper is not None and factor > upper):
            raise TrafficpipeError("%s expects CLASS=VALUE entries (%s; classes %s), got %r"
                                   % (flag, rule, ", ".join(TRAFFIC_CLASSES), part))
        out[name] = factor
    return out


def _classes():
    from ..models.classes import TRAFFIC_CLASSES
    return TRAFFIC_CLASSES


def _best_text(best):
    val = best.get("val")
    if not val:
        return "no validation"
    parts = ["%s %.3f" % (k, v) for k, v in val["ap50"].items() if v is not None]
    if val.get("road_sign"):
        parts.append("road_sign recall %.2f precision %.2f" % (val["road_sign"]["recall"],
                                                               val["road_sign"]["precision"]))
    return "val AP50 " + (", ".join(parts) or "none (nothing scored)")
