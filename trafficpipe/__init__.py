"""trafficpipe: traffic-object detection (vehicle, pedestrian, bicycle, road_sign, traffic_light) in images, video
files and live cameras, as a multi-stage threaded pipeline over ONNX Runtime, torch (CUDA) or TensorRT engines."""
from .detector import Detector
from .errors import TrafficpipeError
from .models.classes import TRAFFIC_CLASSES
from .models.detections import Detections
from .pipeline import Pipeline, RunSummary
from .run_config import RunConfig
from .sources import open_source

__version__ = "0.1.0"
__all__ = ["Detector", "Pipeline", "RunConfig", "RunSummary", "Detections", "TRAFFIC_CLASSES", "TrafficpipeError", "open_source",
           "__version__"]
