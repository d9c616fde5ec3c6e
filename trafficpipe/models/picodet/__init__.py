"""PP-PicoDet-S: its adapter (preprocessing, numpy decoding), the DFL box decoding in torch (torch_decode.py: device
I/O and training) and as ONNX nodes (onnx_decode.py: device I/O of ONNX Runtime and TensorRT)."""
from .adapter import PicoDetAdapter

__all__ = ["PicoDetAdapter"]
