"""SimOTA label assignment (YOLOX; PP-PicoDet's assigner), batched over images with padded ground truth.

For each ground-truth box g the candidate cells are those whose centre lies inside g or within `center_radius`
strides of g's centre. The cost of cell a for g is
    BCE(p_c(a), IoU(a,g)) - BCE(p_c(a), 0)   (class cost: what predicting g's class c at quality IoU costs)
    + 3 * -log IoU(a,g)                       (box cost)
    + 1e5 unless a is both inside g and near its centre,
g takes its k(g) cheapest candidates with k(g) = max(1, floor(sum of its 10 best IoUs)), and a cell claimed by
several boxes goes to the one for which it is cheapest. Predictions are detached; nothing here has gradients.
"""
import torch
import torch.nn.functional as F

INF = 1e8


def box_iou_pairs(a, b):
    """IoU of boxes a [..., N, 4] against b [..., M, 4] -> [..., N, M]."""
    lt = torch.max(a[..., :, None, :2], b[..., None, :, :2])
    rb = torch.min(a[..., :, None, 2:], b[..., None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = ((a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])).clamp(min=0)
    area_b = ((b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])).clamp(min=0)
    return inter / (area_a[..., :, None] + area_b[..., None, :] - inter).clamp(min=1e-9)


@torch.no_grad()
def simota_assign(scores, boxes, points, strides, gt_boxes, gt_labels, gt_valid, center_radius=2.5, topk=10,
                  iou_weight=3.0):
    """Assign cells to ground truth.

    scores [B,A,K] (sigmoid), boxes [B,A,4] decoded predictions, points [A,2], strides [A];
    gt_boxes [B,G,4], gt_labels [B,G] (long), gt_valid [B,G] (bool; padding is False).
    Returns (gt_index [B,A] long, -1 for background; iou [B,A] IoU of the prediction with its assigned box, 0 for
    background).
    """
    b, a, _ = scores.shape
    g = gt_boxes.shape[1]
    device = scores.device
    if g == 0:
        return torch.full((b, a), -1, dtype=torch.long, device=device), torch.zeros((b, a), device=device)
    scores = scores.float()
    boxes = boxes.float()
    gt_boxes = gt_boxes.float()
    px, py = points[:, 0], points[:, 1]  # [A]
    x1, y1, x2, y2 = [gt_boxes[..., i:i + 1] for i in range(4)]  # [B,G,1]
    in_box = (px > x1) & (px < x2) & (py > y1) & (py < y2)  # [B,G,A]
    cx, cy = (x1 + x2) * 0.5, (y1 + y2) * 0.5
    r = center_radius * strides  # [A]
    in_center = ((px - cx).abs() < r) & ((py - cy).abs() < r)
    valid = gt_valid[..., None]
    candidate = (in_box | in_center) & valid  # [B,G,A]
    both = in_box & in_center

    ious = box_iou_pairs(gt_boxes, boxes)  # [B,G,A]
    ious = torch.where(candidate, ious, torch.zeros_like(ious))
    labels = gt_labels.clamp(min=0)
    p = scores.gather(2, labels[:, None, :].expand(b, a, g)).transpose(1, 2).clamp(1e-6, 1 - 1e-6)  # [B,G,A]
    cls_cost = F.binary_cross_entropy(p, ious, reduction="none") - F.binary_cross_entropy(
        p, torch.zeros_like(p), reduction="none")
    cost = cls_cost + iou_weight * -torch.log(ious + 1e-8) + (~both).float() * 1e5
    cost = torch.where(candidate, cost, torch.full_like(cost, INF))

    k = min(topk, a)
    dyn_k = ious.topk(k, dim=2)[0].sum(2).floor().clamp(min=1).long()  # [B,G]
    order = cost.topk(k, dim=2, largest=False)  # k cheapest cells per box
    take = torch.arange(k, device=device)[None, None, :] < dyn_k[..., None]
    take &= order.values < INF
    match = torch.zeros((b, g, a), dtype=torch.bool, device=device)
    match.scatter_(2, order.indices, take)
    cost = torch.where(match, cost, torch.full_like(cost, INF))
    best_cost, best_gt = cost.min(1)  # [B,A]: a cell claimed by several boxes goes to the cheapest
    fg = best_cost < INF
    gt_index = torch.where(fg, best_gt, torch.full_like(best_gt, -1))
    iou = ious.gather(1, best_gt[:, None, :]).squeeze(1) * fg.float()
    return gt_index, iou
