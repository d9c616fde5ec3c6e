"""The trainable torch networks built from a pretrained ONNX file (onnx2torch), with a head for the traffic classes.

`build_network` (training/bases.py) picks the family from the graph. For PicoDet the ONNX graph is cut at its 4 head
convolutions (class logits + 32 DFL logits per cell, before the graph's sigmoid); each head convolution is replaced
by one with K + 32 output channels whose class rows start from the matching COCO rows (a traffic class fed by
several COCO classes starts from the mean of their rows, i.e. the mean of their logits). YOLOX: yolox_net.py.
"""
import copy
import logging
import warnings

import numpy as np
import torch
from torch import nn

from ..errors import ModelError
from ..models.classes import COCO_CLASSES, TRAFFIC_CLASSES
from ..torchdeps import import_onnx2torch
from . import picodet_graph

STRIDES = (8, 16, 32, 64)
MEAN = (123.675, 116.28, 103.53)  # RGB, as the PicoDet adapter normalises
STD = (58.395, 57.12, 57.375)

#: traffic class -> COCO classes whose head rows initialise it
COCO_INIT = {
    "vehicle": ("car",),
    "pedestrian": ("person",),
    "bicycle": ("bicycle", "motorcycle"),
    "road_sign": ("stop sign",),
    "traffic_light": ("traffic light",),
}

#: traffic class -> COCO classes whose max score is the teacher's score for it (the COCO mapping of models/classes.py)
COCO_TEACHER = {
    "vehicle": ("car", "bus", "truck"),
    "pedestrian": ("person",),
    "bicycle": ("bicycle", "motorcycle"),
    "road_sign": ("stop sign",),
    "traffic_light": ("traffic light",),
}


def anchor_points(size, strides=STRIDES):
    # type: (int, tuple) -> tuple
    """Cell centres (x, y) [A,2] and strides [A] of all levels, level by level, row-major (the output order)."""
    pts, st = [], []
    for s in strides:
        n = -(-size // s)
        yy, xx = np.meshgrid(np.arange(n, dtype=np.float32), np.arange(n, dtype=np.float32), indexing="ij")
        pts.append(np.stack([(xx.reshape(-1) + 0.5) * s, (yy.reshape(-1) + 0.5) * s], 1))
        st.append(np.full((n * n,), s, np.float32))
    return np.concatenate(pts), np.concatenate(st)


def _conv_modules(body):
    return {name: m for name, m in body.named_modules() if name and hasattr(m, "weight") and m.weight is not None}


def check_input_size(model, imgsz):
    """ModelError unless the base ModelProto takes imgsz x imgsz inputs."""
    size = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim][2:]
    if size != [imgsz, imgsz]:
        raise ModelError("the base model takes %s inputs; train it at --imgsz %d" % ("x".join(map(str, size)), size[0]))


def convert_body(model):
    """onnx2torch module of a (cut) ModelProto, its converter warnings silenced."""
    o2t = import_onnx2torch()
    logging.getLogger("onnx2torch").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return o2t.convert(model)


def class_conv(old, classes, base_names, init, keep_from):
    """A copy of conv `old` whose first len(classes) output rows are class rows started from the mean of their COCO
    rows (`init`: class -> COCO names), followed by old's rows from `keep_from` on (PicoDet's DFL rows)."""
    k = len(classes)
    extra = old.out_channels - keep_from
    new = nn.Conv2d(old.in_channels, k + extra, old.kernel_size, old.stride, old.padding, old.dilation, old.groups,
                    bias=True)
    with torch.no_grad():
        for j, name in enumerate(classes):
            rows = [base_names.index(c) for c in init.get(name, ())]
            if rows:
                new.weight[j] = old.weight[rows].mean(0)
                new.bias[j] = old.bias[rows].mean(0)
            else:  # no COCO counterpart: start near "nothing here" (sigmoid(-4.6) = 0.01)
                nn.init.normal_(new.weight[j], std=0.01)
                new.bias[j] = -4.6
        new.weight[k:] = old.weight[keep_from:]
        new.bias[k:] = old.bias[keep_from:]
    return new


def replace_convs(body, names, make):
    """Replace each conv module of `body` named in `names` by make(old)."""
    mods = _conv_modules(body)
    for name in names:
        old = mods.get(name)
        if old is None:
            raise ModelError("onnx2torch did not keep the head convolution %s as a module" % name)
        _replace_module(body, name, make(old))


def coco_head(model, graph, class_conv_names, classes, init, imgsz, family):
    """What every base builds from a COCO (80-class) ModelProto: (trainable body whose class convolutions have the
    traffic rows, frozen teacher body, COCO columns of each class for the teacher, 80). `graph` is the family's graph
    module (head_levels, num_classes, training_graph); `class_conv_names(levels)` names the convolutions whose output
    rows are the classes."""
    init = dict(COCO_INIT if init is None else init)
    levels = graph.head_levels(model)
    check_input_size(model, imgsz)
    base_k = graph.num_classes(model)
    if base_k != 80:
        raise ModelError("the base model has %d classes; training starts from a COCO (80-class) %s" % (base_k, family))
    body = convert_body(graph.training_graph(model))
    teacher_body = copy.deepcopy(body)
    replace_convs(body, class_conv_names(levels), lambda old: class_conv(old, classes, COCO_CLASSES, init, base_k))
    teacher_cols = [[COCO_CLASSES.index(c) for c in COCO_TEACHER.get(name, ())] for name in classes]
    return levels, body, teacher_body, teacher_cols, base_k


def build_picodet(model, classes=TRAFFIC_CLASSES, init=None, imgsz=416):
    """(PicoDetNet, TeacherNet) from a cleaned PicoDet ModelProto."""
    levels, body, teacher_body, teacher_cols, base_k = coco_head(
        model, picodet_graph, lambda lvs: [lv.conv.name for lv in lvs], classes, init, imgsz, "PicoDet")
    net = PicoDetNet(body, [lv.conv.name for lv in levels], len(classes), imgsz)
    return net, TeacherNet(teacher_body, base_k, teacher_cols)


def _replace_module(root, dotted, module):
    parent = root
    parts = dotted.split(".")
    for p in parts[:-1]:
        parent = getattr(parent, p)
    setattr(parent, parts[-1], module)


class PicoDetNet(nn.Module):
    """Normalised RGB images [B,3,S,S] -> (class logits [B,A,K], DFL logits [B,A,32]), A = cells of all levels."""

    def __init__(self, body, head_names, num_classes, imgsz):
        super(PicoDetNet, self).__init__()
        self.body = body
        self.head_names = list(head_names)
        self.num_classes = num_classes
        self.imgsz = imgsz
        pts, st = anchor_points(imgsz)
        self.register_buffer("points", torch.from_numpy(pts), persistent=False)
        self.register_buffer("strides", torch.from_numpy(st), persistent=False)

    def forward(self, x):
        k = self.num_classes
        cls, reg = [], []
        for o in self.body(x):
            flat = o.reshape(o.shape[0], o.shape[1], -1).transpose(1, 2)
            cls.append(flat[..., :k])
            reg.append(flat[..., k:])
        return torch.cat(cls, 1), torch.cat(reg, 1)

    def head_convs(self):
        mods = dict(self.body.named_modules())
        return [mods[n] for n in self.head_names]


class TeacherNet(nn.Module):
    """The frozen base model: traffic-class scores [B,A,K] = max of the sigmoid over each class's COCO columns."""

    def __init__(self, body, base_classes, columns):
        super(TeacherNet, self).__init__()
        self.body = body
        self.base_classes = base_classes
        self.columns = columns
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode=True):
        return super(TeacherNet, self).train(False)

    def forward(self, x):
        scores = []
        for o in self.body(x):
            logits = o[:, :self.base_classes].reshape(o.shape[0], self.base_classes, -1).transpose(1, 2)
            cols = [logits[..., c].max(-1)[0] if c else torch.full_like(logits[..., 0], -20.0) for c in self.columns]
            scores.append(torch.stack(cols, -1))
        return torch.sigmoid(torch.cat(scores, 1).float())


def normalize(images_uint8, channels_last=False):
    """uint8 RGB [B,S,S,3] tensor -> normalised float [B,3,S,S] on the same device."""
    x = images_uint8.permute(0, 3, 1, 2).float()
    mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    x = (x - mean) / std
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x
