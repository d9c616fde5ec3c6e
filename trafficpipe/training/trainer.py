"""The training loop: SimOTA assignment, GFL losses with partial-label weighting, AdamW/SGD with warm-up and cosine
decay, an EMA of the weights (validated and exported), validation after every epoch, the best checkpoint kept.
"""
import copy
import json
import math
import os
import time

import numpy as np
import torch

from ..errors import DatasetError, TrafficpipeError
from ..eval.dataset import load_dataset
from ..log import logger
from ..models.classes import TRAFFIC_CLASSES
from .assign import simota_assign
from .augment import AugmentConfig
from .bases import build_network
from .checks import check_train_set, check_val_set
from . import workers
from .data import TrainSamples, collate, repeat_factors
from .export import export_onnx
from .losses import detection_loss


class TrainConfig(object):
    """Hyper-parameters of one training run (see `trafficpipe train --help`)."""

    def __init__(self, epochs=30, batch=32, imgsz=416, optimizer="adamw", lr=3e-4, weight_decay=0.01,
                 warmup_steps=100, final_lr=0.02, ema_decay=0.999, ema_tau=200, workers=4, time_budget=0.0,
                 trainable="all", max_images=0, val_limit=0, distill=True, partial="distill", seed=0, grad_clip=10.0,
                 augment=None, boost=None, paste=None, drawn_lights=0.0):
        self.epochs = int(epochs)
        self.batch = int(batch)
        self.imgsz = int(imgsz)
        self.optimizer = optimizer
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.warmup_steps = int(warmup_steps)
        self.final_lr = float(final_lr)  # fraction of lr at the end of the cosine
        self.ema_decay = float(ema_decay)
        self.ema_tau = float(ema_tau)
        self.workers = int(workers)
        self.time_budget = float(time_budget)  # seconds for the whole run (0 = none): fewer epochs when short
        self.trainable = trainable  # "all" or "head" (the head convolutions only: fast CPU smoke runs)
        self.max_images = int(max_images)
        self.val_limit = int(val_limit)
        self.distill = bool(distill)
        if partial not in ("mask", "distill"):
            raise TrafficpipeError("unknown partial-label policy %r; choose mask or distill" % partial)
        self.partial = partial  # unassigned cells of a partial class: "mask" (no loss) or "distill" (base model)
        self.seed = int(seed)
        self.grad_clip = float(grad_clip)
        self.augment = augment or AugmentConfig()
        self.boost = dict(boost or {})  # class name -> extra repeat factor of the images holding it
        self.paste = dict(paste or {})  # class name -> probability of copy-paste augmentation (paste.py)
        self.drawn_lights = float(drawn_lights)  # probability of pasting drawn traffic lights (synth_lights.py)

    def to_dict(self):
        # type: () -> dict
        d = dict(self.__dict__)
        d["augment"] = self.augment.to_dict()
        return d


class ModelEMA(object):
    """Exponential moving average of a model's floating-point state; decay ramps up as d * (1 - exp(-n / tau))."""

    def __init__(self, model, decay=0.999, tau=200.0):
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.tau = tau
        self.updates = 0

    @torch.no_grad()
    def update(self, model):
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        src = model.state_dict()
        for k, v in self.module.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(src[k].detach(), alpha=1 - d)


def _same_folder(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


def _optimizer(net, cfg):
    decay, no_decay = [], []
    for p in net.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.999))
    raise TrafficpipeError("unknown optimizer %r; choose sgd or adamw" % cfg.optimizer)


def lr_factor(step, total, warmup, final):
    # type: (int, int, int, float) -> float
    """Linear warm-up from 0.1 over `warmup` steps, then cosine from 1 to `final` at `total` steps."""
    if step < warmup:
        return 0.1 + 0.9 * step / float(max(warmup, 1))
    t = min(1.0, (step - warmup) / float(max(total - warmup, 1)))
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * t))


def _ignore_cells(points, ignore, ignore_valid):
    """[B,A] bool: cells whose centre lies in a valid ignore region."""
    if ignore.shape[1] == 0 or not bool(ignore_valid.any()):
        return None
    px, py = points[:, 0], points[:, 1]
    x1, y1, x2, y2 = [ignore[..., i:i + 1] for i in range(4)]
    inside = (px >= x1) & (px <= x2) & (py >= y1) & (py <= y2) & ignore_valid[..., None]
    return inside.any(1)


def train_step(net, teacher, batch, device, cfg):
    """Forward, assignment and loss of one batch -> (loss tensor, parts dict)."""
    imgs = batch["image"].to(device, non_blocking=True)
    gt_boxes = batch["boxes"].to(device, non_blocking=True)
    gt_labels = batch["labels"].to(device, non_blocking=True)
    valid = batch["valid"].to(device, non_blocking=True)
    state = batch["state"].to(device, non_blocking=True)
    ignore = _ignore_cells(net.points, batch["ignore"].to(device), batch["ignore_valid"].to(device))
    base = net.base  # the family's input normalisation, box decoding and losses (training/bases.py)
    x = base.normalize(imgs, device.type == "cuda")
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        cls, reg = net(x)
        tscores = None
        if teacher is not None:
            with torch.no_grad():
                tscores = teacher(x)
    cls, reg = cls.float(), reg.float()
    boxes = base.decode_boxes(net.points, net.strides, reg)
    gt_index, iou = simota_assign(cls.detach().sigmoid(), boxes.detach(), net.points, net.strides, gt_boxes,
                                  gt_labels, valid)
    return detection_loss(cls, reg, boxes, net.points, net.strides, gt_index, iou, gt_boxes, gt_labels, state,
                          tscores, ignore, cfg.partial, dfl=base.dfl)


def _loader(samples, weights, cfg, device):
    import functools
    from torch.utils.data import DataLoader, WeightedRandomSampler
    from .workers import handled_signals
    gen = torch.Generator()
    gen.manual_seed(cfg.seed)
    sampler = WeightedRandomSampler(torch.as_tensor(weights, dtype=torch.double), len(samples), replacement=True,
                                    generator=gen)
    kw = {}
    if cfg.workers > 0:  # spawned, not forked: a fork after torch/OpenCV started their thread pools can hang
        from .workers import QuietSpawnContext  # their Ctrl-C and SIGTERM are the main process's (workers.py)
        kw = {"persistent_workers": True, "prefetch_factor": 4, "multiprocessing_context": QuietSpawnContext()}
    return DataLoader(samples, batch_size=min(cfg.batch, len(samples)), sampler=sampler, num_workers=cfg.workers,
                      collate_fn=collate, drop_last=True, pin_memory=device.type == "cuda",
                      worker_init_fn=functools.partial(_worker_init, quiet=handled_signals()), **kw)


def _worker_init(_, quiet=()):
    """A data-loading process's set-up: one OpenCV thread; the signals named in `quiet` end it quietly
    (training/workers.py)."""
    import cv2
    from .workers import quiet_on
    cv2.setNumThreads(1)  # one process per core: no OpenCV thread pools fighting over the cores
    quiet_on(quiet)


def train(train_dir, base_path, val_dir=None, out_dir="runs/train", device="cuda", cfg=None, export_name=None,
          progress=True):
    # type: (str, str, str, str, str, TrainConfig, str, bool) -> dict
    """Fine-tune the PicoDet or YOLOX ONNX `base_path` on `train_dir`, validating on `val_dir` after each epoch.

    Writes out_dir/best.pt (EMA weights of the best epoch), out_dir/<export_name> (its ONNX; default: the family's
    name, e.g. trafficpipe_yolox_nano_416.onnx), out_dir/history.json.
    Returns the run summary (config, history, best epoch and figures, times).
    """
    cfg = cfg or TrainConfig()
    t_start = time.time()
    if val_dir and _same_folder(train_dir, val_dir):
        raise DatasetError("the training and validation sets are the same folder (%s); never train on the "
                           "validation set" % train_dir)
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrafficpipeError("--device cuda: no CUDA GPU is visible to torch here; use --device cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        n = torch.cuda.device_count()
        gpus = "1 CUDA GPU (cuda:0)" if n == 1 else "%d CUDA GPUs (cuda:0 to cuda:%d)" % (n, n - 1)
        raise TrafficpipeError("--device %s: this machine has %s" % (device, gpus))
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    # the sets first (cheap: headers and labels), then the base: a bad set ends here, before the network is built
    dataset = load_dataset(train_dir)
    if cfg.max_images:
        dataset = dataset.subset(limit=cfg.max_images)
    check_train_set(dataset)
    val_set = None
    if val_dir:
        val_set = load_dataset(val_dir)
        if cfg.val_limit:
            val_set = val_set.subset(limit=cfg.val_limit)
        check_val_set(val_set)
    net, teacher = build_network(base_path, TRAFFIC_CLASSES, imgsz=cfg.imgsz)
    base = net.base
    samples = TrainSamples(dataset, cfg.imgsz, cfg.augment, train=True, seed=cfg.seed, channels=base.channels,
                           letterbox=base.letterbox,
                           paste={TRAFFIC_CLASSES.index(name): p for name, p in cfg.paste.items()},
                           drawn_lights=cfg.drawn_lights)
    for bank in samples.banks:
        logger.info("{}: {} object(s) to paste ({})", bank.kind, len(bank), ", ".join(
            "%s %d" % (TRAFFIC_CLASSES[k], n) for k, n in bank.counts().items()))
    weights = repeat_factors(dataset, boost=cfg.boost)
    loader = _loader(samples, weights, cfg, device)
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise DatasetError("%s has fewer images than one batch" % train_dir)

    if not cfg.distill:
        teacher = None
    if cfg.trainable == "head":
        heads = set(id(p) for m in net.head_convs() for p in m.parameters())
        for p in net.parameters():
            p.requires_grad_(id(p) in heads)
    net.to(device)
    if teacher is not None:
        teacher.to(device)
    if device.type == "cuda":
        net.to(memory_format=torch.channels_last)
        if teacher is not None:
            teacher.to(memory_format=torch.channels_last)
    net.train()
    ema = ModelEMA(net, cfg.ema_decay, cfg.ema_tau)
    opt = _optimizer(net, cfg)
    validator = None
    if val_dir:
        from .validate import Validator
        validator = Validator(val_set, cfg.imgsz, base=base)

    if not os.path.isdir(out_dir):
        os.makedirs(out_dir)
    best_path = os.path.join(out_dir, "best.pt")
    onnx_path = os.path.join(out_dir, export_name or model_name(base, cfg.imgsz) + ".onnx")
    epochs = cfg.epochs
    total_steps = epochs * steps_per_epoch
    history, best, step = [], None, 0
    logger.info("training {} ({} images, {} steps/epoch of {}) from {} ({}) on {}; validating on {}",
                os.path.basename(os.path.normpath(train_dir)), len(dataset), steps_per_epoch, loader.batch_size,
                os.path.basename(base_path), base.family, device, val_dir or "nothing")
    epoch = 0
    try:
        while epoch < epochs:
            epoch += 1
            t0 = time.time()
            sums = {"loss": 0.0, "qfl": 0.0, "giou": 0.0, "dfl": 0.0, "fg": 0.0}
            it = workers.started(loader)  # persistent workers: started once, reused by every epoch
            if progress:
                from tqdm import tqdm
                it = tqdm(it, desc="epoch %d/%d" % (epoch, epochs), total=steps_per_epoch, leave=False,
                          dynamic_ncols=True)
            for batch in it:
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * lr_factor(step, total_steps, cfg.warmup_steps, cfg.final_lr)
                loss, parts = train_step(net, teacher, batch, device, cfg)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_([p for p in net.parameters() if p.requires_grad], cfg.grad_clip)
                opt.step()
                ema.update(net)
                step += 1
                sums["loss"] += float(loss.detach())
                for k in ("qfl", "giou", "dfl", "fg"):
                    sums[k] += parts[k]
            t_train = time.time() - t0
            rec = {"epoch": epoch, "lr": opt.param_groups[0]["lr"], "train_s": round(t_train, 2)}
            rec.update({k: round(v / steps_per_epoch, 4) for k, v in sums.items()})
            if validator is not None:
                t1 = time.time()
                rec["val"] = validator.evaluate(ema.module, device)
                rec["val_s"] = round(time.time() - t1, 2)
            rec["epoch_s"] = round(time.time() - t0, 2)
            history.append(rec)
            score = rec["val"]["score"] if "val" in rec else -rec["loss"]
            improved = best is None or score > best["score"]
            if improved:
                best = {"epoch": epoch, "score": score, "val": rec.get("val")}
                _save_atomic({"state_dict": ema.module.state_dict(), "classes": list(TRAFFIC_CLASSES),
                              "base": os.path.basename(base_path), "family": base.family, "imgsz": cfg.imgsz,
                              "epoch": epoch,
                              "val": rec.get("val"), "config": cfg.to_dict()}, best_path)
            logger.info("epoch {}/{}: loss {:.4f} (qfl {:.4f} giou {:.4f} dfl {:.4f}, {:.1f} fg/batch) lr {:.2e} "
                        "{:.1f}s{}{}", epoch, epochs, rec["loss"], rec["qfl"], rec["giou"], rec["dfl"], rec["fg"],
                        rec["lr"], rec["epoch_s"], _val_text(rec.get("val")), " *best*" if improved else "")
            if cfg.time_budget > 0:
                epochs = _fit_budget(history, epoch, epochs, cfg, time.time() - t_start)
                total_steps = epochs * steps_per_epoch
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the workers go first, quietly
        workers.stop(loader)
        raise
    _write_json(os.path.join(out_dir, "history.json"), history)
    ckpt = torch.load(best_path, map_location="cpu", weights_only=False)
    ema.module.load_state_dict(ckpt["state_dict"])
    meta = {"trafficpipe.base": os.path.basename(base_path), "trafficpipe.epoch": str(best["epoch"])}
    export_onnx(ema.module.cpu(), base_path, onnx_path, TRAFFIC_CLASSES, meta)
    steady = history[1:] or history  # epoch 1 carries the start-up costs (workers, CUDA and cuDNN warm-up)
    summary = {"config": cfg.to_dict(), "family": base.family, "train_dir": os.path.abspath(train_dir),
               "val_dir": os.path.abspath(val_dir) if val_dir else None, "base": os.path.abspath(base_path),
               "images": len(dataset), "batch": loader.batch_size, "imgsz": cfg.imgsz,
               "steps_per_epoch": steps_per_epoch, "epochs_run": len(history),
               "best": best, "history": history, "checkpoint": best_path, "onnx": onnx_path,
               "device": _device_name(device), "total_s": round(time.time() - t_start, 1),
               "train_s_per_epoch": round(float(np.median([h["train_s"] for h in steady])), 2),
               "epoch_s_with_val": round(float(np.median([h["epoch_s"] for h in steady])), 2),
               "first_epoch_s": history[0]["epoch_s"]}
    _write_json(os.path.join(out_dir, "summary.json"), summary)
    logger.info("best epoch {} (score {:.4f}); wrote {} and {}", best["epoch"], best["score"], best_path, onnx_path)
    return summary


def _fit_budget(history, epoch, epochs, cfg, elapsed):
    """Epochs that fit the time budget: planned once after epoch 3 (epoch 1 carries the start-up costs: worker
    processes, CUDA and cuDNN warm-up; it is left out of the estimate), then only cut further if the run falls
    behind; before that only an overrun stops the run. The cosine follows the new total."""
    if elapsed >= cfg.time_budget:
        return epoch
    plan_at = min(3, cfg.epochs)
    if epoch < plan_at:
        return epochs
    times = [h["epoch_s"] for h in history[1:]] or [history[0]["epoch_s"]]
    per_epoch = max(float(np.mean(times[-3:])), 1e-3)
    fit = max(epoch, epoch + int((cfg.time_budget - elapsed) // per_epoch))
    if epoch == plan_at or fit < epochs:
        new = min(cfg.epochs, fit)
        if new != epochs:
            logger.info("time budget {:.0f}s: {} epochs fit ({:.1f}s each)", cfg.time_budget, new, per_epoch)
        return new
    return epochs


def _val_text(val):
    if not val:
        return ""
    parts = ["%s %.3f" % (k, v) for k, v in val["ap50"].items() if v is not None]
    if "road_sign" in val:
        parts.append("road_sign R %.2f P %.2f" % (val["road_sign"]["recall"], val["road_sign"]["precision"]))
    return " | val AP50 " + ", ".join(parts) + " | score %.4f" % val["score"]


def _device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"


def model_name(base, imgsz):
    # type: (object, int) -> str
    """The exported model's default name: the family's (base.export_name, e.g. trafficpipe_picodet_s_416) with the
    input size the run trains at (trafficpipe_picodet_s_320 from a 320 base)."""
    stem, _, size = base.export_name.rpartition("_")
    return "%s_%d" % (stem, imgsz) if stem and size.isdigit() else base.export_name


def _save_atomic(obj, path):
    """torch.save to `path` through a temporary file: a run stopped while saving leaves the previous file whole."""
    tmp = path + ".tmp"
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def _write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, default=float)
    os.replace(tmp, path)
