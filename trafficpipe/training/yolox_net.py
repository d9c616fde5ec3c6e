"""A trainable torch YOLOX built from the pretrained ONNX file (onnx2torch), with a head for the traffic classes.

The graph is cut at its 9 head convolutions (reg, obj, cls per level, before the graph's sigmoids); each cls
convolution is replaced by one with K output channels whose rows start from the matching COCO rows (as for PicoDet:
the mean of the rows of the COCO classes that feed a traffic class); obj and reg convolutions are kept.

YOLOX scores a class as sigmoid(obj) * sigmoid(cls). The network hands the shared trainer the exact logit of that
product (`joint_logit`), so SimOTA, the quality focal loss and the teacher targets work on the score the exported
model gives, with the obj convolution learning from every class.
"""
import torch
import torch.nn.functional as F
from torch import nn

from ..models.classes import TRAFFIC_CLASSES
from .network import anchor_points, coco_head
from . import yolox_graph
from .yolox_graph import STRIDES

MAX_LOG_WH = 10.0  # exp() clamp of the decoded log-size in training (e^10 strides: far beyond any image)


def joint_logit(obj, cls):
    """logit(sigmoid(obj) * sigmoid(cls)) = log p - log(1 - p), with 1 - p = sigmoid(-obj) + sigmoid(obj) *
    sigmoid(-cls), all from log-sigmoids: exact, and finite with bounded gradients for any inputs. obj [...,1]."""
    log_obj = F.logsigmoid(obj)
    log_p = log_obj + F.logsigmoid(cls)
    log_q = torch.logaddexp(F.logsigmoid(-obj), log_obj + F.logsigmoid(-cls))
    return log_p - log_q


def _flat(t):
    return t.reshape(t.shape[0], t.shape[1], -1).transpose(1, 2)


class YoloxNet(nn.Module):
    """BGR 0-255 images [B,3,S,S] -> (joint class logits [B,A,K], box outputs [B,A,4] = dx, dy, log w, log h)."""

    def __init__(self, body, levels, num_classes, imgsz):
        super(YoloxNet, self).__init__()
        self.body = body
        self.levels = [tuple(lv) for lv in levels]  # (reg, obj, cls) module names per level
        self.head_names = [lv[2] for lv in self.levels]  # the convs whose output rows are the classes
        self.num_classes = num_classes
        self.imgsz = imgsz
        pts, st = anchor_points(imgsz, STRIDES)
        self.register_buffer("points", torch.from_numpy(pts), persistent=False)
        self.register_buffer("strides", torch.from_numpy(st), persistent=False)

    def forward(self, x):
        outs = self.body(x)
        cls, reg = [], []
        for i in range(0, len(outs), 3):
            r, o, c = [_flat(t) for t in outs[i:i + 3]]
            cls.append(joint_logit(o.float(), c.float()))
            reg.append(r)
        return torch.cat(cls, 1), torch.cat(reg, 1)

    def head_convs(self):
        mods = dict(self.body.named_modules())
        return [mods[n] for lv in self.levels for n in lv]


class YoloxTeacher(nn.Module):
    """The frozen base model: traffic-class scores [B,A,K] = sigmoid(obj) * max of sigmoid(cls) over each class's
    COCO columns (the COCO mapping of the YOLOX adapter)."""

    def __init__(self, body, columns):
        super(YoloxTeacher, self).__init__()
        self.body = body
        self.columns = columns
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode=True):
        return super(YoloxTeacher, self).train(False)

    def forward(self, x):
        outs = self.body(x)
        scores = []
        for i in range(0, len(outs), 3):
            obj, logits = _flat(outs[i + 1]).float(), _flat(outs[i + 2]).float()
            cols = [logits[..., c].max(-1)[0] if c else torch.full_like(logits[..., 0], -20.0) for c in self.columns]
            scores.append(torch.sigmoid(obj) * torch.sigmoid(torch.stack(cols, -1)))
        return torch.cat(scores, 1)


def build_yolox(model, classes=TRAFFIC_CLASSES, init=None, imgsz=416):
    """(YoloxNet, YoloxTeacher) from a YOLOX ModelProto."""
    levels, body, teacher_body, teacher_cols, _ = coco_head(
        model, yolox_graph, lambda lvs: [lv.cls.name for lv in lvs], classes, init, imgsz, "YOLOX")
    names = [(lv.reg.name, lv.obj.name, lv.cls.name) for lv in levels]
    return YoloxNet(body, names, len(classes), imgsz), YoloxTeacher(teacher_body, teacher_cols)


def normalize(images_uint8, channels_last=False):
    """uint8 BGR [B,S,S,3] tensor -> float [B,3,S,S] 0-255 (YOLOX takes no mean/std) on the same device."""
    x = images_uint8.permute(0, 3, 1, 2).float()
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def decode_boxes(points, strides, reg):
    """YOLOX box outputs [..., A, 4] -> boxes [..., A, 4] xyxy in input pixels, as the adapter decodes:
    cx = (dx + col) * s, cy = (dy + row) * s, w = exp(log w) * s, h = exp(log h) * s (points = cell centres)."""
    reg = reg.float()
    s = strides[..., None]
    xy = reg[..., :2] * s + points - 0.5 * s
    half = torch.exp(reg[..., 2:].clamp(max=MAX_LOG_WH)) * s * 0.5
    return torch.cat([xy - half, xy + half], -1)
