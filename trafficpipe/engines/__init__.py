"""Inference engines behind one contract: ONNX Runtime (CPU), torch (CUDA) and TensorRT."""
from .base import Engine, ExecutionContext, Slot, TensorSpec
from .factory import ENGINES, create_engine

__all__ = ["Engine", "ExecutionContext", "Slot", "TensorSpec", "ENGINES", "create_engine"]
