"""Shared helpers of the TensorRT tests: data paths, the doubles, tiny synthetic ONNX models, a loguru capture."""
import os
import tempfile

import numpy as np

from trafficpipe.paths import data_dir

MODELS = os.path.join(data_dir(), "models")
PICODET = os.path.join(MODELS, "picodet_s_416_coco.onnx")
PICODET_320 = os.path.join(MODELS, "picodet_s_320_coco.onnx")
YOLOX = os.path.join(MODELS, "yolox_nano_416.onnx")
VIDEO = os.path.join(data_dir(), "videos", "highway-360p.mp4")
STREET = os.path.join(data_dir(), "videos", "street-540p.mp4")
KITTI = os.path.join(data_dir(), "data", "traffic-dev", "images", "kitti")
GENERATIONS = ("8.2", "8.6", "10", "11")

#: Cleaned / rewritten ONNX copies are content-addressed: share them across tests (plans stay per test).
SHARED_CACHE = os.path.join(tempfile.gettempdir(), "trafficpipe-test-cache-%d" % os.getuid())


def use_doubles(monkeypatch, gen, gpu_name="Fake GPU", compute_capability=(8, 6)):
    """Install the TensorRT double of `gen` with a fake pycuda device; returns the fake tensorrt module."""
    from doubles import fake_tensorrt
    monkeypatch.setenv("TRAFFICPIPE_CACHE", SHARED_CACHE)
    return fake_tensorrt.install(monkeypatch, gen, gpu_name=gpu_name, compute_capability=compute_capability)


def count(trt, name):
    from doubles import fake_tensorrt
    return fake_tensorrt.event_names(trt).count(name)


class LogCapture(object):
    """Collects loguru records (level, message) while installed."""

    def __init__(self, level="DEBUG"):
        from trafficpipe.log import logger
        self.records = []
        self._id = logger.add(lambda m: self.records.append((m.record["level"].name, m.record["message"])),
                              level=level)

    def close(self):
        from trafficpipe.log import logger
        logger.remove(self._id)

    def messages(self, level):
        return [m for lv, m in self.records if lv == level]


def tiny_onnx(path, dynamic=False, aligned=True, custom_ops=()):
    """A small conv net: input x [N,3,16,16] -> feat [N,4,16,16] (+ pooled [N,4,1,1] when not `aligned`).

    `custom_ops` adds nodes of unknown ops (custom domain) for parser-error tests."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.RandomState(0)
    n = "N" if dynamic else 1
    w = numpy_helper.from_array(rng.randn(4, 3, 3, 3).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.randn(4).astype(np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["feat"], name="relu")]
    outputs = [helper.make_tensor_value_info("feat", TensorProto.FLOAT, [n, 4, 16, 16])]
    if not aligned:
        nodes.append(helper.make_node("GlobalAveragePool", ["feat"], ["pooled"], name="pool"))
        outputs.append(helper.make_tensor_value_info("pooled", TensorProto.FLOAT, [n, 4, 1, 1]))
    prev = "feat"
    for i, op in enumerate(custom_ops):
        nodes.append(helper.make_node(op, [prev], ["custom%d" % i], domain="com.example", name="custom%d" % i))
        prev = "custom%d" % i
    if custom_ops:
        outputs = [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [n, 4, 16, 16])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, 3, 16, 16])],
                              outputs, [w, b])
    opsets = [helper.make_opsetid("", 13)] + ([helper.make_opsetid("com.example", 1)] if custom_ops else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    onnx.save(model, path)
    return path


#: Rows of the synthetic SSD "NMS" output: [image_id, label, conf, x1, y1, x2, y2] (normalised corners).
SSD_ROWS = np.array([
    [0, 1, 0.90, 0.10, 0.20, 0.30, 0.50],   # car -> vehicle
    [0, 0, 0.95, 0.00, 0.00, 0.50, 0.50],   # background: never reported
    [0, 3, 0.80, 0.50, 0.40, 0.55, 0.90],   # pedestrian
    [0, 2, 0.70, 0.70, 0.10, 0.80, 0.30],   # cyclist, but past the keep count (3): padding
    [-1, 0, 0.00, 0.00, 0.00, 0.00, 0.00],
], np.float32)
SSD_KEEP = 3


def ssd_onnx(path, batch=None, height=384, width=1248):
    """A stand-in for a TLT/TAO SSD engine graph: input "Input" [N,3,H,W], outputs "NMS" [N,1,K,7] (fixed rows that
    still depend on the input, so batches broadcast) and "NMS_1" [N,1,1,1] int32 (the keep count)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    n = "N" if batch is None else batch
    k = SSD_ROWS.shape[0]
    nodes = [
        helper.make_node("ReduceMean", ["Input"], ["m"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["rows", "z"], ["NMS"]),
        helper.make_node("Add", ["z", "keep"], ["kf"]),
        helper.make_node("Cast", ["kf"], ["NMS_1"], to=TensorProto.INT32),
    ]
    inits = [numpy_helper.from_array(np.zeros((1, 1, 1, 1), np.float32), "zero"),
             numpy_helper.from_array(SSD_ROWS.reshape(1, 1, k, 7), "rows"),
             numpy_helper.from_array(np.full((1, 1, 1, 1), SSD_KEEP, np.float32), "keep")]
    graph = helper.make_graph(
        nodes, "ssd_nms_standin", [helper.make_tensor_value_info("Input", TensorProto.FLOAT, [n, 3, height, width])],
        [helper.make_tensor_value_info("NMS", TensorProto.FLOAT, [n, 1, k, 7]),
         helper.make_tensor_value_info("NMS_1", TensorProto.INT32, [n, 1, 1, 1])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def rows_onnx(path):
    """x [N,3,16,16] -> feat [N,4,16,16] -> "rows" [N*64, 16]: an output whose first axis is not the batch (its
    shape in the plan is [-1, 16]; TensorRT resolves it to [N*64, 16] once the input shape is set)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.RandomState(0)
    w = numpy_helper.from_array(rng.randn(4, 3, 3, 3).astype(np.float32), "w")
    shape = numpy_helper.from_array(np.array([-1, 16], np.int64), "shape")
    nodes = [helper.make_node("Conv", ["x", "w"], ["feat"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Reshape", ["feat", "shape"], ["rows"], name="rows")]
    graph = helper.make_graph(nodes, "rows", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
                              [helper.make_tensor_value_info("rows", TensorProto.FLOAT, ["R", 16])], [w, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def two_input_onnx(path):
    """x [N,3,16,16] and gain [N,1,1,1] -> out = conv(x) * gain [N,4,16,16]: a model with two inputs."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.RandomState(0)
    w = numpy_helper.from_array(rng.randn(4, 3, 3, 3).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Mul", ["c", "gain"], ["out"], name="gain")]
    graph = helper.make_graph(nodes, "two_inputs",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16]),
                               helper.make_tensor_value_info("gain", TensorProto.FLOAT, [1, 1, 1, 1])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4, 16, 16])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path
