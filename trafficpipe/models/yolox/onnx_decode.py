"""YOLOX's box decoding as ONNX nodes (opset 11), for the device-I/O graph (engines/onnx_device_io.py).

The numbers follow the adapter's numpy decoding (adapter.py).
"""
import numpy as np


def yolox_graph_decode(b, outs, gx, gy, gs, classes, traffic_scores):
    """(boxes [N, A, 4], traffic scores [N, A, K]) value names from the raw output name outs[0] ([N, A, 5 + classes]),
    with nodes added through the graph builder `b` (const, op, slice); `gx`, `gy`, `gs`: grid column, row and stride
    of every cell; `traffic_scores(name)`: model class scores -> traffic class scores."""
    o = outs[0]
    xy, wh = b.slice(o, 0, 2, 2), b.slice(o, 2, 4, 2)
    obj, cls = b.slice(o, 4, 5, 2), b.slice(o, 5, 5 + classes, 2)
    ts = b.op("Mul", [traffic_scores(cls), obj])
    grid = b.const(np.stack([gx, gy], 1))  # [A, 2]
    stride = b.const(gs.reshape(-1, 1))  # [A, 1]
    centre = b.op("Mul", [b.op("Add", [xy, grid]), stride])
    half = b.op("Mul", [b.op("Mul", [b.op("Exp", [wh]), stride]), b.const(0.5)])
    boxes = b.op("Concat", [b.op("Sub", [centre, half]), b.op("Add", [centre, half])], axis=2)
    return boxes, ts
