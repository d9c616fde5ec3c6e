"""TLT/TAO SSD engines with the NMS plugin: their adapter (the engine decodes and runs NMS itself)."""
from .adapter import SsdNmsAdapter

__all__ = ["SsdNmsAdapter"]
