"""The five stages, each wiring one contract into threads: capture, preprocess, infer, postprocess, write."""
from .capture import CaptureStage
from .infer import InferStage
from .postprocess import PostprocessStage
from .preprocess import PreprocessStage
from .write import WriteStage

__all__ = ["CaptureStage", "PreprocessStage", "InferStage", "PostprocessStage", "WriteStage"]
