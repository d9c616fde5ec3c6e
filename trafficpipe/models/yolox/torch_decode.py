"""YOLOX's box decoding in torch for the torch engine's device I/O; mirrors the adapter's numpy decoding
(adapter.py) operation for operation. torch is imported here: only torch users import this module."""
import torch


class YoloxTorchDecode(object):
    """The model's raw output [B, A, 5 + C] -> (boxes [B, A, 4] in model-input pixels, traffic scores [B, A, K] =
    traffic class score x objectness), on `device`. `gx`, `gy`, `gs`: grid column, row and stride of every cell."""

    def __init__(self, gx, gy, gs, device):
        f32 = dict(device=device, dtype=torch.float32)
        self.gx = torch.as_tensor(gx, **f32)
        self.gy = torch.as_tensor(gy, **f32)
        self.gs = torch.as_tensor(gs, **f32)

    def __call__(self, outs, traffic_scores):
        o = outs[0]
        ts = traffic_scores(o[..., 5:]) * o[..., 4:5]
        s = self.gs
        cx = (o[..., 0] + self.gx) * s
        cy = (o[..., 1] + self.gy) * s
        bw = o[..., 2].exp() * s * 0.5
        bh = o[..., 3].exp() * s * 0.5
        return torch.stack([cx - bw, cy - bh, cx + bw, cy + bh], -1), ts
