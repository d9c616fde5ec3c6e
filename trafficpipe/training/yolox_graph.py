"""The parts of a YOLOX ONNX graph that training and export touch (onnx only, no torch).

Megvii's YOLOX export ends each of its 3 levels (strides 8, 16, 32) with three 1x1 convolutions, `reg` (4 channels:
dx, dy, log w, log h), `obj` (1) and `cls` (C), then `Concat(reg, Sigmoid(obj), Sigmoid(cls))` on axis 1 ->
`Reshape` [1, 5+C, -1]; the levels are joined by `Concat` on axis 2 and `Transpose` [0,2,1] into the one output
[1, N, 5+C]. Training uses the 9 convolutions' raw outputs; export puts new weights back into the same graph and
gives the reshapes and the output 5+K columns.
"""
import numpy as np

from ..errors import ModelError
from .graph_walk import back, producers

BOX_CHANNELS = 4
STRIDES = (8, 16, 32)


class YoloxLevel(object):
    """One level of the head: its reg, obj and cls conv nodes and the Reshape that flattens their concatenation."""

    def __init__(self, reg, obj, cls, reshape):
        self.reg = reg
        self.obj = obj
        self.cls = cls
        self.reshape = reshape

    @property
    def convs(self):
        return [self.reg, self.obj, self.cls]


def _back(prod, name, op):
    return back(prod, name, op, "YOLOX")


def head_levels(model):
    """The 3 YoloxLevel of a YOLOX ModelProto, in output order (strides 8, 16, 32)."""
    g = model.graph
    if len(g.output) != 1:
        raise ModelError("not a YOLOX export: %d outputs, expected 1 [1,N,5+C]" % len(g.output))
    prod = producers(g)
    t = _back(prod, g.output[0].name, "Transpose")
    cat = _back(prod, t.input[0], "Concat")
    if len(cat.input) != len(STRIDES):
        raise ModelError("not a YOLOX export: %d levels, expected %d" % (len(cat.input), len(STRIDES)))
    levels = []
    for name in cat.input:
        r = _back(prod, name, "Reshape")
        c = _back(prod, r.input[0], "Concat")
        if len(c.input) != 3:
            raise ModelError("not a YOLOX export: a level concatenates %d tensors, expected reg, obj, cls"
                             % len(c.input))
        reg = _back(prod, c.input[0], "Conv")
        obj = _back(prod, _back(prod, c.input[1], "Sigmoid").input[0], "Conv")
        cls = _back(prod, _back(prod, c.input[2], "Sigmoid").input[0], "Conv")
        levels.append(YoloxLevel(reg, obj, cls, r))
    return levels


def _weight_shape(model, node):
    from onnx import numpy_helper
    inits = {i.name: i for i in model.graph.initializer}
    if node.input[1] not in inits:
        raise ModelError("not a YOLOX export: %s has no weight initializer" % node.name)
    return numpy_helper.to_array(inits[node.input[1]]).shape


def num_classes(model):
    # type: (object) -> int
    """Class channels of a YOLOX ModelProto (80 for the COCO export); checks the reg/obj widths on the way."""
    lv = head_levels(model)[0]
    if _weight_shape(model, lv.reg)[0] != BOX_CHANNELS or _weight_shape(model, lv.obj)[0] != 1:
        raise ModelError("not a YOLOX export: the reg/obj convolutions do not have 4/1 output channels")
    return int(_weight_shape(model, lv.cls)[0])


def training_graph(model):
    """A copy of the ModelProto ending at the 9 head convolutions, outputs in level order (reg, obj, cls) x 3."""
    import onnx
    keep = [c.output[0] for lv in head_levels(model) for c in lv.convs]
    return onnx.utils.Extractor(model).extract_model([model.graph.input[0].name], keep)


def set_num_classes(model, k):
    """Give the exported ModelProto's level reshapes and its output 5 + k columns (in place)."""
    from onnx import numpy_helper
    g = model.graph
    name = "trafficpipe_level_shape"
    g.initializer.append(numpy_helper.from_array(np.asarray([1, 5 + k, -1], np.int64), name))
    for lv in head_levels(model):
        lv.reshape.input[1] = name
    g.output[0].type.tensor_type.shape.dim[2].dim_value = 5 + k
