"""PicoDet's DFL box decoding in torch: one definition for training's losses and the torch engine's device I/O.

Mirrors the adapter's numpy decoding (adapter.py) operation for operation. torch is imported here: only torch users
import this module.
"""
import numpy as np
import torch


def dfl_boxes(centres, strides, logits, bins=None):
    """DFL logits [..., A, 4*BINS] -> boxes [..., A, 4] xyxy in input pixels: per side the expectation of the softmax
    over the bins, times the stride (a number, or a tensor [A]), from the cell centres `centres` [A, 2] (x, y)."""
    p = logits.float().reshape(tuple(logits.shape[:-1]) + (4, -1)).softmax(-1)
    if bins is None:
        bins = torch.arange(p.shape[-1], device=logits.device, dtype=torch.float32)
    dist = (p * bins).sum(-1) * (strides[..., None] if torch.is_tensor(strides) else strides)  # left, top, right, bottom
    return torch.cat([centres - dist[..., :2], centres + dist[..., 2:]], -1)


class PicoDetTorchDecode(object):
    """The model's raw outputs (4 score maps, then 4 DFL box maps, [B, A_level, C] each) -> (boxes [B, A, 4] in
    model-input pixels, traffic scores [B, A, K]), on `device`. `levels`: (cx, cy, stride) per level, cell centres in
    pixels; `bins`: the DFL bin values."""

    def __init__(self, levels, bins, device):
        f32 = dict(device=device, dtype=torch.float32)
        self.levels = [(torch.as_tensor(np.stack([cx, cy], 1), **f32), s) for cx, cy, s in levels]
        self.bins = torch.as_tensor(bins, **f32)

    def __call__(self, outs, traffic_scores):
        boxes, scores = [], []
        n = len(self.levels)
        for i, (centres, s) in enumerate(self.levels):
            boxes.append(dfl_boxes(centres, s, outs[n + i], self.bins))
            scores.append(traffic_scores(outs[i]))
        return torch.cat(boxes, 1), torch.cat(scores, 1)
