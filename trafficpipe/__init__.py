"""trafficpipe: traffic-object detection (vehicle, pedestrian, bicycle, road_sign, traffic_light) in images, video
files and live cameras, as a multi-stage threaded pipeline over ONNX Runtime, torch (CUDA) or TensorRT engines.

The public names below are imported on first use (`from trafficpipe import Detector` works as always): importing the
package alone is quick, so the command line has its Ctrl-C and SIGTERM handling in place before the heavy imports
(numpy, OpenCV, the engines), and a spawned worker imports only what it runs."""
import importlib
import sys
import types

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS = {
    "Detector": ".detector",
    "Detections": ".models.detections",
    "Pipeline": ".pipeline",
    "RunConfig": ".run_config",
    "RunSummary": ".pipeline",
    "TRAFFIC_CLASSES": ".models.classes",
    "TrafficpipeError": ".errors",
    "open_source": ".sources",
}

__all__ = ["Detector", "Pipeline", "RunConfig", "RunSummary", "Detections", "TRAFFIC_CLASSES", "TrafficpipeError",
           "open_source", "__version__"]


class _Package(types.ModuleType):
    """The package module, importing a public name's module when the name is first asked for."""

    def __getattr__(self, name):
        where = _EXPORTS.get(name)
        if where is None:
            raise AttributeError("module %r has no attribute %r" % (self.__name__, name))
        value = getattr(importlib.import_module(where, self.__name__), name)
        setattr(self, name, value)
        return value

    def __dir__(self):
        return sorted(set(super(_Package, self).__dir__()) | set(_EXPORTS))


sys.modules[__name__].__class__ = _Package
