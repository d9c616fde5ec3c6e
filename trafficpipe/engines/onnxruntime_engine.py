"""ONNX Runtime on the CPU: the default engine, runs anywhere."""
import os

import numpy as np

from ..errors import EngineError, ModelError
from ..log import logger
from .base import Engine, ExecutionContext, TensorSpec
from .onnx_graph import cleaned_model_path, read_model

_ORT_TYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(uint8)": np.uint8, "tensor(int8)": np.int8, "tensor(int32)": np.int32, "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}


def _spec(arg):
    shape = tuple(d if isinstance(d, int) else -1 for d in arg.shape)
    return TensorSpec(arg.name, shape, _ORT_TYPES.get(arg.type, np.float32))


class OnnxRuntimeContext(ExecutionContext):
    """Runs each submitted slot at once on the calling thread (ORT releases the GIL while it computes)."""

    def _launch(self, slot):
        eng = self.engine
        n = slot.size
        names = eng.output_names
        if eng.graph_batch == 1:  # fixed batch-1 graph: one call per frame
            for i in range(n):
                outs = eng.session.run(names, {k: v[i:i + 1] for k, v in slot.host_inputs.items()})
                for name, o in zip(names, outs):
                    slot.host_outputs[name][i] = o[0]
        else:
            outs = eng.session.run(names, {k: v[:n] for k, v in slot.host_inputs.items()})
            for name, o in zip(names, outs):
                slot.host_outputs[name][:n] = o

    def _wait(self, slot):
        pass


class OnnxRuntimeEngine(Engine):
    """An onnxruntime.InferenceSession on the CPU; `threads` = intra-op threads (0 = ONNX Runtime's choice)."""

    name = "onnxruntime"

    def __init__(self, model_path, threads=0, clean=True):
        super(OnnxRuntimeEngine, self).__init__()
        try:
            import onnxruntime as ort
        except ImportError:
            raise EngineError("onnxruntime is not installed: pip install onnxruntime")
        path = cleaned_model_path(model_path) if clean else model_path
        data = read_model(path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
        except Exception as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelError("cannot load %s with ONNX Runtime: %s" % (os.path.basename(model_path), msg))
        self.model_path = model_path
        self.threads = int(threads)
        self.inputs = [_spec(a) for a in self.session.get_inputs()]
        self.outputs = [_spec(a) for a in self.session.get_outputs()]
        self.graph_batch = self.inputs[0].fixed_batch if self.inputs else 0
        logger.debug("onnxruntime {}: inputs {} outputs {}", ort.__version__, self.inputs, self.outputs)

    def _context_class(self):
        return OnnxRuntimeContext

    def create_context(self, n_slots=2, batch=1):
        # graphs with a fixed batch of 1 run B calls per slot, so any batch is accepted
        if self.graph_batch == 1:
            ctx = OnnxRuntimeContext(self, n_slots, batch)
            self.contexts.append(ctx)
            return ctx
        return super(OnnxRuntimeEngine, self).create_context(n_slots, batch)

    def describe(self):
        import onnxruntime as ort
        return {"engine": self.name, "precision": "fp32", "device": "cpu", "threads": self.threads,
                "onnxruntime": ort.__version__}
