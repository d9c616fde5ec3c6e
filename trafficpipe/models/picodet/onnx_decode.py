"""PicoDet's DFL box decoding as ONNX nodes (opset 11), for the device-I/O graph (engines/onnx_device_io.py).

The numbers follow the adapter's numpy decoding (adapter.py).
"""
import numpy as np


def picodet_graph_decode(b, outs, levels, bins, traffic_scores):
    """(boxes [N, A, 4], traffic scores [N, A, K]) value names from the raw output names `outs`, with nodes added
    through the graph builder `b` (const, op, slice); `levels`: (cx, cy, stride) per level, centres in pixels; `bins`:
    the DFL bin values; `traffic_scores(name)`: model class scores -> traffic class scores."""
    n = len(levels)
    boxes, scores = [], []
    bin_values = b.const(bins.reshape(-1, 1))  # [8, 1]
    for i, (cx, cy, s) in enumerate(levels):
        a = int(cx.shape[0])
        logits = b.op("Reshape", [outs[n + i], b.const([0, a, 4, bins.shape[0]], np.int64)])
        p = b.op("Softmax", [logits], axis=3)
        dist = b.op("Reshape", [b.op("MatMul", [p, bin_values]), b.const([0, a, 4], np.int64)])
        dist = b.op("Mul", [dist, b.const(float(s))])  # left, top, right, bottom
        centre = b.const(np.stack([cx, cy], 1))  # [A, 2], already in pixels
        boxes.append(b.op("Concat", [b.op("Sub", [centre, b.slice(dist, 0, 2, 2)]),
                                     b.op("Add", [centre, b.slice(dist, 2, 4, 2)])], axis=2))
        scores.append(traffic_scores(outs[i]))
    cat = lambda xs: xs[0] if len(xs) == 1 else b.op("Concat", xs, axis=1)  # noqa: E731
    return cat(boxes), cat(scores)
