"""ONNX -> torch module for the torch engine (onnx2torch), placed so that it runs without host synchronisation.

onnx2torch keeps shape-like constants (Reshape target shapes, Resize scales, Slice bounds, Split sizes) as tensors and
reads them back with `.tolist()` / `bool(tensor)` on every call; on the GPU each read is a device->host sync, which
stalls the stream and forbids CUDA-graph capture. Those constants stay on the CPU here (reading them costs nothing);
weights and every other constant go to the GPU.
"""
import os

from ..errors import ModelError
from ..log import logger
from .base import TensorSpec
from .onnx_batch import dynamic_batch_model
from .onnx_graph import cleaned_model_path, load_onnx

#: onnx2torch modules whose inputs after the first are shape-like constants read on the host
_HOST_ARG_MODULES = ("OnnxReshape", "OnnxResize", "OnnxResizeV10", "OnnxSlice", "OnnxSplit", "OnnxSplit13",
                     "OnnxExpand", "OnnxTile", "OnnxPad", "OnnxConstantOfShape", "OnnxRange", "OnnxTopK",
                     "OnnxUnsqueezeDynamicAxes", "OnnxSqueezeDynamicAxes", "OnnxReduceSumDynamicAxes")

_ONNX_TYPES = {1: "float32", 10: "float16", 11: "float64", 2: "uint8", 3: "int8", 6: "int32", 7: "int64", 9: "bool"}


def import_onnx2torch():
    """The onnx2torch.convert function; EngineError (one line) where it cannot be imported."""
    from ..torchdeps import import_onnx2torch as _import
    return _import().convert


def _specs(values, batch_dynamic):
    import numpy as np
    specs = []
    for v in values:
        t = v.type.tensor_type
        dims = []
        for i, d in enumerate(t.shape.dim):
            if i == 0 and batch_dynamic:
                dims.append(-1)
            else:
                dims.append(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1)
        specs.append(TensorSpec(v.name, dims, np.dtype(_ONNX_TYPES.get(t.elem_type, "float32"))))
    return specs


class TorchModel(object):
    """A converted model: `module` (torch.fx.GraphModule on `device`), `inputs`/`outputs` TensorSpecs (float32 at the
    boundary), `batch_dynamic` (False: the graph takes one frame per call) and `half` (fp16 weights)."""

    def __init__(self, model_path, device, half=False, dynamic_batch=True):
        import numpy as np
        import torch
        convert = import_onnx2torch()
        path = cleaned_model_path(model_path)
        model = load_onnx(path)
        inits = set(i.name for i in model.graph.initializer)
        graph_inputs = [v for v in model.graph.input if v.name not in inits]
        if len(graph_inputs) != 1:
            raise ModelError("%s has %d inputs; the torch engine runs single-input detectors"
                             % (os.path.basename(model_path), len(graph_inputs)))
        fixed = graph_inputs[0].type.tensor_type.shape.dim[0]
        self.batch_dynamic = not (fixed.HasField("dim_value") and fixed.dim_value > 0)
        if not self.batch_dynamic and dynamic_batch:
            model, self.batch_dynamic = dynamic_batch_model(model)
        inits = set(i.name for i in model.graph.initializer)
        self.inputs = _specs([v for v in model.graph.input if v.name not in inits], self.batch_dynamic)
        self.outputs = _specs(model.graph.output, self.batch_dynamic)
        for s in self.inputs + self.outputs:  # the engine's buffers are float32 whatever the compute precision
            if s.dtype.kind == "f":
                s.dtype = np.dtype(np.float32)
        try:
            module = convert(model)
        except Exception as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelError("onnx2torch cannot convert %s: %s" % (os.path.basename(model_path), msg))
        module.eval()
        for p in module.parameters():
            p.requires_grad_(False)
        self.device = torch.device(device)
        self.half = bool(half)
        self.io = None  # DeviceIO (engines/torch_device_io.py) once the engine takes uint8 images
        self.host_constants = place_module(module, self.device, torch.float16 if half else None)
        self.module = module
        logger.debug("torch model {}: batch {}, {} host-side constants", os.path.basename(model_path),
                     "dynamic" if self.batch_dynamic else "fixed 1", len(self.host_constants))

    def to_half(self):
        """Cast the weights and device constants to fp16 (inputs are cast on the way in, outputs back to float32)."""
        import torch
        place_module(self.module, self.device, torch.float16)
        self.half = True

    def forward(self, x):
        """Outputs (a list, graph order) of a float32 batch `x` on the model's device; fp16 inside when `half`."""
        if self.half:
            x = x.half()
        if self.batch_dynamic or x.shape[0] == 1:
            return _as_list(self.module(x))
        return [list(t) for t in zip(*[_as_list(self.module(x[i:i + 1])) for i in range(x.shape[0])])]

    def batch_consistent(self, seed=0):
        # type: (int) -> bool
        """True when a batch of 2 random frames gives, per frame, what each frame gives alone.

        Scale-free: the batch/single difference must be under 2% of the difference between the two frames' outputs
        (a wrong batch axis mixes frames and fails it by far; rounding between batch sizes does not)."""
        import torch
        spec = self.inputs[0]
        g = torch.Generator(device="cpu").manual_seed(seed)
        x = (torch.rand((2,) + tuple(spec.shape[1:]), generator=g) * 4.0 - 2.0).to(self.device)
        with torch.no_grad():
            both = self.forward(x)
            ones = [self.forward(x[i:i + 1]) for i in range(2)]
        for k, out in enumerate(both):
            a, b = ones[0][k][0].float(), ones[1][k][0].float()
            if tuple(out.shape[1:]) != tuple(a.shape) or out.shape[0] != 2:
                return False
            apart = float((a - b).abs().max())
            same = max(float((out[0].float() - a).abs().max()), float((out[1].float() - b).abs().max()))
            scale = max(float(a.abs().max()), float(b.abs().max()), 1e-30)
            if not (same <= 0.02 * apart or same <= 1e-6 * scale):
                return False
        return True

    def run_into(self, x, outs):
        """Compute the batch `x` and write each output into the matching tensor of `outs` (first x.shape[0] items).

        With `io` set (engines/torch_device_io.py), `x` is the uint8 image batch and `outs` the one candidates
        tensor: io.pre runs before the model and io.post after it."""
        import torch
        n = x.shape[0]
        io = self.io
        if io is not None:
            x = io.pre(x)
        if self.half:
            x = x.half()
        if self.batch_dynamic:
            raw = _as_list(self.module(x))
        else:
            per = [_as_list(self.module(x[i:i + 1])) for i in range(n)]
            raw = [torch.cat(parts, 0) if n > 1 else parts[0] for parts in zip(*per)]
        if io is not None:
            raw = [io.post(raw)]
        for o, r in zip(outs, raw):
            o[:n].copy_(r)


def _as_list(res):
    if isinstance(res, (list, tuple)):
        return list(res)
    return [res]


def place_module(module, device, dtype=None):
    """Move `module` to `device` (floating weights and constants cast to `dtype` if given), keeping the shape-like
    constants that onnx2torch reads on the host (see the module docstring) on the CPU. Returns their names."""
    import torch
    host = set()
    graph = getattr(module, "graph", None)
    if graph is not None:
        for node in graph.nodes:
            if node.op != "call_module":
                continue
            sub = module.get_submodule(node.target)
            if type(sub).__name__ not in _HOST_ARG_MODULES:
                continue
            for arg in list(node.args[1:]) + list(node.kwargs.values()):
                if getattr(arg, "op", None) == "get_attr":
                    host.add(arg.target)
    shared = set()
    if graph is not None:
        for node in graph.nodes:  # a constant also used as data by another op must go to the device after all
            if node.op == "call_module" and type(module.get_submodule(node.target)).__name__ not in _HOST_ARG_MODULES:
                for arg in list(node.args) + list(node.kwargs.values()):
                    if getattr(arg, "op", None) == "get_attr":
                        shared.add(arg.target)
            elif node.op in ("call_function", "call_method", "output"):
                for arg in list(node.args) + list(node.kwargs.values()):
                    if getattr(arg, "op", None) == "get_attr":
                        shared.add(arg.target)
    host -= shared
    for mod_name, mod in module.named_modules():
        for name, p in list(mod._parameters.items()):
            if p is None:
                continue
            t = p.data.to(device=device, dtype=dtype if (dtype is not None and p.is_floating_point()) else p.dtype)
            mod._parameters[name] = torch.nn.Parameter(t, requires_grad=False)
        for name, b in list(mod._buffers.items()):
            if b is None:
                continue
            full = (mod_name + "." + name) if mod_name else name
            if full in host:
                mod._buffers[name] = b.cpu()
            else:
                cast = dtype if (dtype is not None and b.is_floating_point()) else b.dtype
                mod._buffers[name] = b.to(device=device, dtype=cast)
    return sorted(host)
