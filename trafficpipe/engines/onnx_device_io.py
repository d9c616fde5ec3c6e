"""Device I/O as ONNX: the detector's graph wrapped with its preprocessing in front and its candidate ranking behind.

The same split as the torch engine's device I/O (models/device_io.py, engines/torch_device_io.py), written as standard
ONNX (opset 11 operators, so that TensorRT 8.x's parser takes it) for the engines that run ONNX graphs themselves:
TensorRT (the GPU does it) and ONNX Runtime. Input: the resized, padded image [N, H, W, 3] as OpenCV lays it out
(uint8, or float32 holding 0..255 where uint8 network inputs are not supported: TensorRT before 8.6); output: [N, K, 6]
candidates = x1, y1, x2, y2 (model-input pixels), score, traffic class id: the best K (cell, class) pairs, highest
score first (multi-label, as the adapters' `select`).
Only the ONNX file changes; the box decoding is the model family's (`adapter.onnx_decode`,
models/<family>/onnx_decode.py), whose numbers follow its adapter's numpy code.
"""
import hashlib
import os

import numpy as np

from ..errors import ModelError
from ..log import logger
from ..paths import cache_dir
from .onnx_graph import load_onnx

INPUT = "image_u8"
OUTPUT = "candidates"
_P = "tp_io/"  # prefix of every name this module adds


class _Builder(object):
    def __init__(self, onnx, graph):
        self.onnx = onnx
        self.h = onnx.helper
        self.graph = graph
        self.nodes = []
        self.inits = []
        self.n = 0

    def name(self, hint):
        self.n += 1
        return "%s%s_%d" % (_P, hint, self.n)

    def const(self, value, dtype=np.float32, hint="c"):
        arr = np.asarray(value, dtype=dtype)
        name = self.name(hint)
        self.inits.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def op(self, op_type, inputs, hint=None, n_out=1, **attrs):
        outs = [self.name(hint or op_type.lower()) for _ in range(n_out)]
        self.nodes.append(self.h.make_node(op_type, list(inputs), outs, name=self.name(op_type), **attrs))
        return outs[0] if n_out == 1 else outs

    def slice(self, x, start, end, axis):
        return self.op("Slice", [x, self.const([start], np.int64), self.const([end], np.int64),
                                 self.const([axis], np.int64)])


def _traffic_scores(b, scores, adapter):
    """Model class scores [N, A, C] -> traffic class scores [N, A, K] (max over each class's columns)."""
    cm = adapter.class_map
    cols = list(cm.flat_columns)
    n_cols = None
    try:
        n_cols = len(adapter.model_classes)
    except TypeError:
        pass
    sub = scores if cols == list(range(n_cols or -1)) else b.op("Gather", [scores, b.const(cols, np.int64)], axis=2)
    if cm.identity:
        return sub
    starts = list(cm.group_starts) + [len(cols)]
    parts = [b.op("ReduceMax", [b.slice(sub, starts[i], starts[i + 1], 2)], axes=[2], keepdims=1)
             for i in range(len(starts) - 1)]
    return parts[0] if len(parts) == 1 else b.op("Concat", parts, axis=2)


def device_io_model(model, adapter, top_k, input_dtype=np.uint8):
    """A copy of `model` (onnx.ModelProto) taking the image [N,H,W,3] of `input_dtype` and giving candidates [N,K,6].

    `adapter` is the model's ModelAdapter (a family with `onnx_decode`: picodet, yolox), `top_k` the candidates kept
    per image."""
    import onnx
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    inits = set(i.name for i in g.initializer)
    graph_inputs = [v for v in g.input if v.name not in inits]
    if len(graph_inputs) != 1:
        raise ModelError("device I/O needs a single-input model")
    b = _Builder(onnx, g)
    # -- in front: image -> the model's normalised NCHW float input -------------------------------------------------
    in_name = graph_inputs[0].name
    batch = graph_inputs[0].type.tensor_type.shape.dim[0]
    x = INPUT
    if np.dtype(input_dtype) != np.float32:
        x = b.op("Cast", [x], to=onnx.TensorProto.FLOAT)
    x = b.op("Transpose", [x], perm=[0, 3, 1, 2])
    order, mean, std = adapter.device_normalization
    if order == "rgb":
        x = b.op("Gather", [x, b.const([2, 1, 0], np.int64)], axis=1)
    if any(v != 0.0 for v in mean):
        x = b.op("Sub", [x, b.const(np.asarray(mean, np.float32).reshape(1, 3, 1, 1))])
    if any(v != 1.0 for v in std):
        x = b.op("Mul", [x, b.const((1.0 / np.asarray(std, np.float32)).reshape(1, 3, 1, 1))])
    b.nodes.append(onnx.helper.make_node("Identity", [x], [in_name], name=b.name("Identity")))
    pre_nodes, b.nodes = b.nodes, []
    # -- behind: raw outputs -> ranked candidates -------------------------------------------------------------------
    outs = [o.name for o in g.output]
    decoded = adapter.onnx_decode(b, outs, lambda scores: _traffic_scores(b, scores, adapter))
    if decoded is None:
        raise ModelError("device I/O does not know the %s family" % adapter.family)
    boxes, ts = decoded
    kt = len(adapter.class_map.class_ids)
    flat = b.op("Reshape", [ts, b.const([0, -1], np.int64)])  # [N, A*K]: every (cell, class) pair
    score, idx = b.op("TopK", [flat, b.const([int(top_k)], np.int64)], n_out=2, axis=1, largest=1, sorted=1)
    cell = b.op("Div", [idx, b.const(kt, np.int64)])  # integer division
    k = b.op("Sub", [idx, b.op("Mul", [cell, b.const(kt, np.int64)])])
    cls = b.op("Gather", [b.const(np.asarray(adapter.class_map.class_ids, np.float32)), k], axis=0)  # [N, K]
    cell4 = b.op("Tile", [b.op("Unsqueeze", [cell], axes=[2]), b.const([1, 1, 4], np.int64)])
    picked = b.op("GatherElements", [boxes, cell4], axis=1)  # [N, K, 4]
    b.nodes.append(onnx.helper.make_node("Concat", [picked, b.op("Unsqueeze", [score], axes=[2]),
                                                    b.op("Unsqueeze", [cls], axes=[2])], [OUTPUT], axis=2,
                                         name=b.name("Concat")))
    post_nodes = b.nodes
    # -- rewire -----------------------------------------------------------------------------------------------------
    new_nodes = pre_nodes + list(g.node) + post_nodes
    del g.node[:]
    g.node.extend(new_nodes)
    g.initializer.extend(b.inits)
    keep_inputs = [v for v in g.input if v.name != in_name]
    del g.input[:]
    h, w = adapter.height, adapter.width
    dim0 = batch.dim_param or (batch.dim_value if batch.dim_value > 0 else "N")
    elem = onnx.TensorProto.UINT8 if np.dtype(input_dtype) == np.uint8 else onnx.TensorProto.FLOAT
    g.input.extend([onnx.helper.make_tensor_value_info(INPUT, elem, [dim0, h, w, 3])] + keep_inputs)
    del g.output[:]
    g.output.extend([onnx.helper.make_tensor_value_info(OUTPUT, onnx.TensorProto.FLOAT, [dim0, int(top_k), 6])])
    del g.value_info[:]
    for op in m.opset_import:
        if op.domain in ("", "ai.onnx") and op.version < 11:
            op.version = 11
    onnx.checker.check_model(m)
    return m


def onnx_specs(path):
    # type: (str) -> tuple
    """(inputs, outputs) TensorSpecs of an ONNX file, read from its graph (no runtime needed)."""
    from .base import TensorSpec
    model = load_onnx(path)
    inits = set(i.name for i in model.graph.initializer)
    types = {1: np.float32, 10: np.float16, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64, 9: np.bool_}

    def spec(v):
        t = v.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in t.shape.dim]
        return TensorSpec(v.name, dims, types.get(t.elem_type, np.float32))

    return ([spec(v) for v in model.graph.input if v.name not in inits], [spec(v) for v in model.graph.output])


def attach(adapter, top_k_limit=None):
    # type: (object, int) -> tuple
    """(top_k, pairs) for an adapter's device I/O: its max_candidates, at most the (cell, class) pairs it scores (and
    `top_k_limit`)."""
    pairs = adapter.anchor_count * len(adapter.class_map.class_ids)
    k = min(int(adapter.max_candidates), pairs)
    if top_k_limit:
        k = min(k, int(top_k_limit))
    return max(1, k), pairs


def device_io_model_path(model_path, adapter, top_k, input_dtype=np.uint8, cache=None):
    # type: (str, object, int, object, str) -> str
    """The device-I/O ONNX of `model_path` in the cache (built once per model content, classes, K and input type)."""
    with open(model_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    key = hashlib.sha256(repr((digest, adapter.family, list(adapter.class_map.flat_columns),
                               list(adapter.class_map.group_starts), list(adapter.class_map.class_ids), int(top_k),
                               np.dtype(input_dtype).name, 2)).encode()).hexdigest()[:20]
    folder = os.path.join(cache or cache_dir(), "onnx")
    if not os.path.isdir(folder):
        os.makedirs(folder)
    path = os.path.join(folder, "%s-deviceio-%s.onnx" % (os.path.splitext(os.path.basename(model_path))[0], key))
    if not os.path.isfile(path):
        import onnx
        m = device_io_model(load_onnx(model_path), adapter, top_k, input_dtype)
        tmp = path + ".tmp%d" % os.getpid()
        onnx.save(m, tmp)
        os.rename(tmp, path)
        logger.debug("device I/O graph of {} written to {}", os.path.basename(model_path), path)
    return path
