"""The parts of a PicoDet ONNX graph that training and export touch (onnx only, no torch).

PaddleDetection's PicoDet export ends each of its 4 levels with one head convolution of (C + 32) channels, then
`Split` [C, 32] -> `Sigmoid` on the class part -> `Reshape` [1, C, -1] -> `Transpose` = score output i, and
`Reshape` [1, 32, -1] -> `Transpose` = box output 4 + i. The sigmoid lives in the graph: training uses the head
convolutions' raw outputs (class logits), export puts new weights back into the same graph.
"""
import numpy as np

from ..errors import ModelError
from .graph_walk import back, producers

BINS = 8  # DFL bins per box side (PicoDet reg_max 7)
BOX_CHANNELS = 4 * BINS


class HeadLevel(object):
    """One level of the head: its conv node, the split node, the score/box reshape nodes and the output names."""

    def __init__(self, conv, split, score_reshape, box_reshape, score_output, box_output):
        self.conv = conv
        self.split = split
        self.score_reshape = score_reshape
        self.box_reshape = box_reshape
        self.score_output = score_output
        self.box_output = box_output

    @property
    def conv_output(self):
        return self.conv.output[0]


def _back(prod, name, op):
    return back(prod, name, op, "PicoDet")


def head_levels(model):
    """The 4 HeadLevel of a PicoDet ModelProto, in output order (strides 8, 16, 32, 64)."""
    g = model.graph
    outs = [o.name for o in g.output]
    if len(outs) != 8:
        raise ModelError("not a PicoDet export: %d outputs, expected 8 (4 score and 4 box maps); trafficpipe train "
                         "fine-tunes PicoDet models only (e.g. picodet_s_416_coco.onnx)" % len(outs))
    prod = producers(g)
    levels = []
    for i in range(4):
        t = _back(prod, outs[i], "Transpose")
        r = _back(prod, t.input[0], "Reshape")
        s = _back(prod, r.input[0], "Sigmoid")
        sp = _back(prod, s.input[0], "Split")
        tb = _back(prod, outs[4 + i], "Transpose")
        rb = _back(prod, tb.input[0], "Reshape")
        if prod.get(rb.input[0]) is not sp:
            raise ModelError("not a PicoDet export: box output %d does not come from the split of score output %d"
                             % (4 + i, i))
        conv = _back(prod, sp.input[0], "Conv")
        levels.append(HeadLevel(conv, sp, r, rb, outs[i], outs[4 + i]))
    return levels


def num_classes(model):
    # type: (object) -> int
    """Class channels of a PicoDet ModelProto (80 for the COCO exports)."""
    from onnx import numpy_helper
    inits = {i.name: i for i in model.graph.initializer}
    w = numpy_helper.to_array(inits[head_levels(model)[0].conv.input[1]])
    return int(w.shape[0]) - BOX_CHANNELS


def training_graph(model):
    """A copy of the ModelProto that ends at the 4 head convolutions (outputs [B, C+32, H, W]) and takes any batch
    size: the channel-shuffle Reshape constants that pin batch 1 get -1 in their first axis."""
    import onnx
    from onnx import numpy_helper
    levels = head_levels(model)
    m = onnx.ModelProto()
    m.CopyFrom(model)
    inits = {i.name: i for i in m.graph.initializer}
    for node in m.graph.node:
        if node.op_type != "Reshape" or node.input[1] not in inits:
            continue
        shape = numpy_helper.to_array(inits[node.input[1]]).copy()
        if shape.size and shape[0] == 1 and -1 not in shape.tolist():
            shape[0] = -1
            inits[node.input[1]].CopyFrom(numpy_helper.from_array(shape.astype(np.int64), node.input[1]))
    keep = [lv.conv_output for lv in levels]
    input_name = m.graph.input[0].name
    return onnx.utils.Extractor(m).extract_model([input_name], keep)
