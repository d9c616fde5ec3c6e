"""Making the batch axis of a fixed-batch-1 ONNX graph dynamic, for engines that run several frames per call.

Exports such as the shared PicoDet and YOLOX fix the batch at 1: the input, the outputs and the constant target shapes
of Reshape nodes all start with 1. Where every Reshape that carries the batch does so through a constant shape whose
first entry is 1 on a tensor whose first axis is that batch, the entry is set to 0 (ONNX: "copy this axis from the
input") and the graph's inputs and outputs get a symbolic batch axis "N". Graphs with other batch-bearing constants
(Resize to fixed sizes, Expand, Tile, ConstantOfShape...) are left as they are, and the engine runs them one frame per
call. Callers should still check a batch of 2 against two batches of 1 on the real engine.
"""
from ..log import logger

#: ops whose constant inputs may encode the batch size; a graph holding one with a constant shape-like input is not
#: made dynamic (Reshape is handled; Resize by scales is batch-independent)
_SHAPE_OPS = ("Expand", "Tile", "ConstantOfShape", "Range")

BATCH_DIM_NAME = "N"


def dynamic_batch_model(model):
    """A copy of the onnx.ModelProto `model` with a dynamic batch axis, and True; or (`model`, False) where the graph
    cannot be made dynamic safely (see the module docstring) or already is."""
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    real_inputs = [i for i in graph.input if i.name not in inits]
    if not real_inputs or not all(_dim0(v) == 1 for v in real_inputs):
        return model, False
    consts = {}  # Constant-node outputs -> node
    for n in graph.node:
        if n.op_type == "Constant":
            consts[n.output[0]] = n
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception as e:  # a graph ONNX cannot infer stays as it is
        logger.debug("shape inference failed ({}): keeping the fixed batch", e)
        return model, False
    shapes = {}
    for v in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        shapes[v.name] = _dim0(v)

    for n in graph.node:
        if n.op_type in _SHAPE_OPS:
            return model, False
        if n.op_type == "Resize" and len(n.input) > 3 and n.input[3]:
            return model, False  # resize to fixed sizes (batch included)

    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    inits = {i.name: i for i in g.initializer}
    consumers = {}
    for n in g.node:
        for name in n.input:
            consumers.setdefault(name, []).append(n)
    patched = {}
    for n in g.node:
        if n.op_type != "Reshape":
            continue
        if any(a.name == "allowzero" and a.i for a in n.attribute):
            return model, False
        shape_name = n.input[1]
        tensor = inits.get(shape_name)
        if tensor is None and shape_name in consts:
            tensor = next((a.t for a in consts[shape_name].attribute if a.name == "value"), None)
        if tensor is None:
            return model, False  # a computed shape: cannot tell where the batch is
        target = numpy_helper.to_array(tensor).copy()
        if shapes.get(n.input[0]) != 1:
            return model, False  # the first axis of the reshaped tensor is unknown or not the batch
        if target.size == 0 or target[0] != 1:
            return model, False  # the batch is folded into another axis: not safe
        if shape_name not in patched:
            target[0] = 0
            new_name = shape_name + "__dynbatch"
            g.initializer.extend([numpy_helper.from_array(target.astype(target.dtype), new_name)])
            patched[shape_name] = new_name
        n.input[1] = patched[shape_name]
    used = set(name for n in g.node for name in n.input) | set(v.name for v in g.input)
    kept = [i for i in g.initializer if i.name in used]
    if len(kept) != len(g.initializer):
        del g.initializer[:]
        g.initializer.extend(kept)
    for v in list(g.input) + list(g.output):
        if v.name in inits:
            continue
        dims = v.type.tensor_type.shape.dim
        if dims and dims[0].dim_value == 1:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = BATCH_DIM_NAME
    del g.value_info[:]
    logger.debug("dynamic batch: {} Reshape target shape(s) patched", len(patched))
    return out, True


def _dim0(value_info):
    """The first dimension of a ValueInfoProto: an int, a string for a symbolic axis, or None if unknown."""
    t = value_info.type.tensor_type
    if not t.HasField("shape") or not t.shape.dim:
        return None
    d = t.shape.dim[0]
    if d.HasField("dim_value"):
        return d.dim_value
    return d.dim_param or None
