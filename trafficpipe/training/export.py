"""Writing a trained network back into its base ONNX graph: the same graph, the same input and outputs, new
weights and K class columns, so every engine loads it like the shipped model and the family's adapter decodes it.
PicoDet: 8 outputs (4 sigmoid score maps [1,N,K], 4 DFL box maps [1,N,32]); YOLOX: 1 output [1,N,5+K]. The class
names go into the ONNX metadata (`trafficpipe.classes`) and into the model card beside the file.
"""
import json
import os

import numpy as np

from ..engines.onnx_graph import cleaned_model_path, load_onnx
from ..errors import ModelError
from ..models.model_card import METADATA_CLASSES_KEY
from .picodet_graph import BOX_CHANNELS, head_levels


def _set_initializer(graph, inits, name, array):
    from onnx import numpy_helper
    if name not in inits:
        raise ModelError("initializer %s missing from the base graph" % name)
    inits[name].CopyFrom(numpy_helper.from_array(np.ascontiguousarray(array), name))


def _set_split(node, sizes, graph, inits):
    from onnx import helper, numpy_helper
    for attr in node.attribute:
        if attr.name == "split":
            attr.CopyFrom(helper.make_attribute("split", list(sizes)))
            return
    if len(node.input) > 1 and node.input[1]:  # opset >= 13: sizes as an input
        name = node.name + "_trafficpipe_split"
        graph.initializer.append(numpy_helper.from_array(np.asarray(sizes, np.int64), name))
        node.input[1] = name
        return
    raise ModelError("cannot set the split sizes of %s" % node.name)


def set_picodet_classes(model, k):
    """Give a PicoDet ModelProto's split, score reshapes and score outputs k classes (in place)."""
    from onnx import numpy_helper
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    score_shape = "trafficpipe_score_shape"
    g.initializer.append(numpy_helper.from_array(np.asarray([1, k, -1], np.int64), score_shape))
    for lv in head_levels(model):
        _set_split(lv.split, [k, BOX_CHANNELS], g, inits)
        lv.score_reshape.input[1] = score_shape
    for out in list(g.output)[:4]:
        out.type.tensor_type.shape.dim[2].dim_value = k


def trained_graph(state_dict, head_names, base_path, classes, metadata, base):
    """The base ONNX ModelProto with the weights of a network's state_dict (keys 'body.<node>.weight'/'.bias');
    `base` (the network's training base, net.base) gives the outputs K classes."""
    import onnx
    from onnx import numpy_helper
    model = load_onnx(cleaned_model_path(base_path))
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    k = len(classes)
    weights = {}
    for key, value in state_dict.items():
        if key.startswith("body.") and (key.endswith(".weight") or key.endswith(".bias")):
            weights[key[len("body."):]] = value.detach().float().cpu().numpy()
    for node in g.node:
        if node.op_type != "Conv":
            continue
        w = weights.get(node.name + ".weight")
        if w is None:
            raise ModelError("the trained model has no weights for %s" % node.name)
        old = numpy_helper.to_array(inits[node.input[1]])
        if node.name not in head_names and old.shape != w.shape:
            raise ModelError("%s: trained weights %s do not fit the base graph's %s" % (node.name, w.shape, old.shape))
        _set_initializer(g, inits, node.input[1], w.astype(np.float32))
        b = weights.get(node.name + ".bias")
        if b is not None:
            if len(node.input) < 3 or not node.input[2]:
                raise ModelError("%s has no bias in the base graph" % node.name)
            _set_initializer(g, inits, node.input[2], b.astype(np.float32))
    base.finish_graph(model, k)
    del g.value_info[:]
    used = set(i for n in g.node for i in n.input)
    unused = [i for i in g.initializer if i.name not in used]
    for i in unused:
        g.initializer.remove(i)
    meta = {METADATA_CLASSES_KEY: json.dumps(list(classes))}
    meta.update({str(a): str(b) for a, b in (metadata or {}).items()})
    for key, value in sorted(meta.items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "trafficpipe"
    onnx.checker.check_model(model)
    return model


def export_onnx(net, base_path, out_path, classes, metadata=None):
    # type: (object, str, str, tuple, dict) -> str
    """Write `net` (a network of build_network) as ONNX to out_path; returns out_path."""
    import onnx
    model = trained_graph(net.state_dict(), set(net.head_names), base_path, classes, metadata, net.base)
    d = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(d):
        os.makedirs(d)
    tmp = out_path + ".tmp%d" % os.getpid()
    onnx.save(model, tmp)
    os.replace(tmp, out_path)
    return out_path


def interpolate_weights(finetuned, initial, alpha):
    # type: (dict, dict, float) -> dict
    """Weight-space ensemble (WiSE-FT, Wortsman et al. 2022): alpha * fine-tuned + (1 - alpha) * initial, for every
    floating-point tensor of two state_dicts of the same network. alpha 1 = the fine-tuned model; smaller alphas keep
    more of the base model's behaviour where the training data did not cover the test conditions."""
    out = {}
    for k, v in initial.items():
        w = finetuned[k]
        out[k] = (alpha * w.float() + (1 - alpha) * v.float()).to(v.dtype) if v.dtype.is_floating_point else w
    return out


def keep_initial_rows(state, initial, head_names, rows):
    # type: (dict, dict, list, list) -> dict
    """`state` with the given class rows of every head convolution (weight and bias) taken from `initial`: those
    classes score as the model they started from (exactly so when only the head was trained: the features feeding the
    head are then the base model's). For classes the training data cannot teach (no image labels them completely in
    the training set's domain) while the others gain from it."""
    out = dict(state)
    for name in head_names:
        for part in ("weight", "bias"):
            key = "body.%s.%s" % (name, part)
            if key not in out:
                continue
            t = out[key].clone()
            for r in rows:
                t[r] = initial[key][r]
            out[key] = t
    return out
