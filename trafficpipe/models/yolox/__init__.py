"""YOLOX: its adapter (letterbox preprocessing, numpy decoding) and the box decoding in torch (torch_decode.py) and as
ONNX nodes (onnx_decode.py) for the engines' device I/O."""
from .adapter import PAD_VALUE, YoloxAdapter

__all__ = ["PAD_VALUE", "YoloxAdapter"]
