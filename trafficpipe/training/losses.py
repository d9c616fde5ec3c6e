"""The detector's losses: quality focal loss on class scores, GIoU and distribution focal loss on boxes (GFL, as
PP-PicoDet uses them; YOLOX boxes are regressed directly and get no DFL), with the per-image, per-class weighting
that keeps partial labels from teaching negatives.

Class targets per cell and class (see `class_targets`):
- a cell assigned to a box: its class gets the IoU of the predicted box with that box, the other classes 0;
- an unassigned cell, for a class the image lists as `exhaustive`: 0 (a true negative);
- ... for a class the image lists as `partial`: with partial="distill" (trafficpipe train's default) the frozen
  base model's score (an unlabeled object the base model sees is not a negative, background the base model calls
  background stays background), with partial="mask" no loss at all. Masking leaves a class that is never labeled
  exhaustively (road_sign) without any negative on its own images: on traffic-dev it gave road-sign precision 0.15
  at conf 0.3 against 0.71 with distillation;
- ... for a class the image does not list at all (not labeled): the frozen base model's score for it (distillation:
  keep the COCO behaviour where there are no labels, so background stays background and unlabeled objects are
  not punished);
- cells whose centre lies in an ignore region (or in a box cut by the crop augmentation): no loss for unassigned
  classes.
"""
import torch
import torch.nn.functional as F

from . import label_state
from .picodet_graph import BINS

EXHAUSTIVE, PARTIAL, UNLISTED = label_state.EXHAUSTIVE, label_state.PARTIAL, label_state.UNLISTED  # re-exported
LOSS_WEIGHTS = {"qfl": 1.0, "giou": 2.0, "dfl": 0.25}


def class_targets(gt_index, iou, gt_labels, class_state, teacher, num_classes, ignore=None, partial="mask"):
    """(target [B,A,K], weight [B,A,K]) for the quality focal loss.

    gt_index/iou from the assigner [B,A]; gt_labels [B,G]; class_state [B,K] (EXHAUSTIVE, PARTIAL, UNLISTED);
    teacher [B,A,K] base-model scores (or None: unlisted classes are then masked like partial ones);
    ignore [B,A] bool cells in ignore regions; partial: "mask" or "distill" (what unassigned cells of a partial
    class learn).
    """
    b, a = gt_index.shape
    fg = gt_index >= 0
    label = gt_labels.gather(1, gt_index.clamp(min=0))  # [B,A]
    onehot = F.one_hot(label.clamp(min=0), num_classes).float() * fg[..., None].float()
    target = onehot * iou[..., None]
    state = class_state[:, None, :].expand(b, a, num_classes)
    weight = torch.ones_like(target)
    bg = ~fg[..., None]
    distilled = state == UNLISTED
    if partial == "distill":
        distilled = distilled | (state == PARTIAL)
    else:
        weight = torch.where(bg & (state == PARTIAL), torch.zeros_like(weight), weight)
    if teacher is not None:
        target = torch.where(bg & distilled, teacher.float(), target)
    else:
        weight = torch.where(bg & distilled, torch.zeros_like(weight), weight)
    if ignore is not None:
        weight = torch.where(bg & ignore[..., None], torch.zeros_like(weight), weight)
    return target, weight


def quality_focal_loss(logits, target, weight, beta=2.0):
    """Sum of w * |y - sigmoid(x)|^beta * BCE(x, y) (Li et al., Generalized Focal Loss) over all cells/classes."""
    logits = logits.float()
    p = logits.sigmoid()
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (weight * (p - target).abs().pow(beta) * bce).sum()


def giou_loss(pred, target):
    """1 - GIoU of paired boxes [N,4] -> [N]."""
    lt = torch.max(pred[:, :2], target[:, :2])
    rb = torch.min(pred[:, 2:], target[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    area_p = (pred[:, 2] - pred[:, 0]).clamp(min=0) * (pred[:, 3] - pred[:, 1]).clamp(min=0)
    area_t = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    union = (area_p + area_t - inter).clamp(min=1e-9)
    iou = inter / union
    elt = torch.min(pred[:, :2], target[:, :2])
    erb = torch.max(pred[:, 2:], target[:, 2:])
    ewh = (erb - elt).clamp(min=0)
    enclose = (ewh[:, 0] * ewh[:, 1]).clamp(min=1e-9)
    return 1.0 - (iou - (enclose - union) / enclose)


def distribution_focal_loss(reg, points, strides, target_boxes):
    """DFL: per side, cross-entropy towards the two bins around the target distance (in strides) -> [N]."""
    d = torch.cat([points - target_boxes[:, :2], target_boxes[:, 2:] - points], 1) / strides[:, None]
    d = d.clamp(0, BINS - 1 - 0.01)
    left = d.floor().long()
    wl = left.float() + 1 - d
    wr = d - left.float()
    logp = reg.float().reshape(-1, 4, BINS).log_softmax(-1)
    loss = -(logp.gather(2, left[..., None]).squeeze(2) * wl + logp.gather(2, (left + 1)[..., None]).squeeze(2) * wr)
    return loss.mean(1)


def detection_loss(cls_logits, reg, boxes, points, strides, gt_index, iou, gt_boxes, gt_labels, class_state,
                   teacher=None, ignore=None, partial="mask", dfl=True):
    """(total loss, dict of parts as floats) of one batch. boxes = decoded predictions [B,A,4] (with gradients);
    reg = the DFL logits [B,A,32] when `dfl` (else unused: no distribution focal loss)."""
    k = cls_logits.shape[-1]
    target, weight = class_targets(gt_index, iou, gt_labels, class_state, teacher, k, ignore, partial)
    fg = gt_index >= 0
    n_fg = max(float(fg.sum().item()), 1.0)
    qfl = quality_focal_loss(cls_logits, target, weight) / n_fg
    if fg.any():
        bi, ai = fg.nonzero(as_tuple=True)
        tb = gt_boxes[bi, gt_index[bi, ai]].float()
        w = cls_logits[bi, ai].detach().float().sigmoid().max(1)[0]  # GFL: weight boxes by predicted quality
        wsum = w.sum().clamp(min=1e-6)
        giou = (giou_loss(boxes[bi, ai].float(), tb) * w).sum() / wsum
        if dfl:
            dfl_loss = (distribution_focal_loss(reg[bi, ai], points[ai], strides[ai], tb) * w).sum() / wsum
        else:
            dfl_loss = giou.new_zeros(())
    else:
        giou = dfl_loss = cls_logits.sum() * 0.0
    total = LOSS_WEIGHTS["qfl"] * qfl + LOSS_WEIGHTS["giou"] * giou + LOSS_WEIGHTS["dfl"] * dfl_loss
    return total, {"qfl": float(qfl.detach()), "giou": float(giou.detach()), "dfl": float(dfl_loss.detach()),
                   "fg": int(fg.sum().item())}
