"""The torch side of device I/O (models/device_io.py): uint8 image -> model input, raw outputs -> ranked candidates.

Both run inside the torch engine's CUDA graphs, between the slot's H2D and D2H copies, with no host synchronisation.
The box decoding is the model family's (`adapter.torch_decoder`, models/<family>/torch_decode.py); this module
normalises the input, maps model classes to traffic classes and ranks the candidates.
"""
import numpy as np

from ..errors import EngineError


class DeviceIO(object):
    """`pre(x)`: uint8 [B,H,W,3] -> float32 [B,3,H,W] normalised; `post(outputs)`: the model's raw outputs -> float32
    [B,K,6] candidates (x1, y1, x2, y2, score, traffic class id), the best K (cell, class) pairs, highest first."""

    def __init__(self, torch, adapter, device, top_k=None):
        self.decode = adapter.torch_decoder(device)  # (outputs, traffic_scores) -> (boxes, traffic scores)
        if self.decode is None:
            raise EngineError("device I/O does not know the %s family" % adapter.family)
        self.torch = torch
        self.adapter = adapter
        self.family = adapter.family
        order, mean, std = adapter.device_normalization
        self.flip = order == "rgb"  # buffers hold OpenCV's BGR
        self.plain = all(m == 0.0 for m in mean) and all(s == 1.0 for s in std)
        f32 = dict(device=device, dtype=torch.float32)
        self.mean = torch.tensor(mean, **f32).view(1, 3, 1, 1)
        self.inv_std = (1.0 / torch.tensor(std, **f32)).view(1, 3, 1, 1)
        cm = adapter.class_map
        self.columns = torch.as_tensor(np.asarray(cm.flat_columns, np.int64), device=device)
        starts = list(cm.group_starts) + [len(cm.flat_columns)]
        self.groups = [(starts[i], starts[i + 1]) for i in range(len(starts) - 1)]
        self.identity = cm.identity
        self.class_ids = torch.as_tensor(np.asarray(cm.class_ids, np.int64), device=device).float()
        from .onnx_device_io import attach
        self.top_k, self.pairs = attach(adapter, top_k)  # (cell, traffic class) pairs ranked per image

    # -- input --------------------------------------------------------------------------------------------------------
    def pre(self, x):
        x = x.permute(0, 3, 1, 2).float()
        if self.flip:
            x = x.flip(1)
        if not self.plain:
            x = (x - self.mean) * self.inv_std
        return x.contiguous()

    # -- output -------------------------------------------------------------------------------------------------------
    def _traffic_scores(self, scores):
        sub = scores.index_select(-1, self.columns)
        if self.identity:
            return sub
        return self.torch.stack([sub[..., a:b].amax(-1) for a, b in self.groups], -1)

    def post(self, outputs):
        torch = self.torch
        outs = [o.float() for o in outputs]
        boxes, ts = self.decode(outs, self._traffic_scores)
        kt = ts.shape[-1]
        score, idx = ts.reshape(ts.shape[0], -1).topk(self.top_k, dim=1)  # (cell, class) pairs, highest first
        cell = torch.div(idx, kt, rounding_mode="floor")
        cls = self.class_ids[idx - cell * kt]
        picked = boxes.gather(1, cell.unsqueeze(-1).expand(-1, -1, 4))
        return torch.cat([picked, score.unsqueeze(-1), cls.unsqueeze(-1)], -1)
