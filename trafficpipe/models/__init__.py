"""Model adapters: the exact preprocessing and decoding of each detector family, and the traffic class map."""
from .classes import TRAFFIC_CLASSES, COCO_CLASSES, parse_classes
from .detections import Detections
from .registry import ADAPTERS, create_adapter, find_model

__all__ = ["TRAFFIC_CLASSES", "COCO_CLASSES", "parse_classes", "Detections", "ADAPTERS", "create_adapter", "find_model"]
