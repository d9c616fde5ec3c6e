"""INT8 entropy calibration for TensorRT 8.x-10.x, on real images preprocessed by the model's own adapter.

The calibrator class derives from `trt.IInt8EntropyCalibrator2`, so it exists only where tensorrt imports and offers
that class (it was deprecated in 10.1 and removed in 11.x): `calibrator_class(trt)` makes it for a tensorrt module.
TensorRT calls `get_batch_size`, `read_calibration_cache` (a cache skips the images), `get_batch(names)` until it
returns None, then `write_calibration_cache` (pattern of NVIDIA's samples/python/efficientdet/build_engine.py).
"""
import json
import os
import weakref

import numpy as np

from ..errors import EngineError
from ..log import logger

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
_classes = weakref.WeakKeyDictionary()  # tensorrt module -> calibrator class


def calibration_images(source, limit=200):
    # type: (object, int) -> list
    """Image paths for calibration from a folder (searched recursively), a dataset folder or annotations.json in the
    traffic-dev format, or a list of paths; at most `limit`, spread evenly over the sorted list."""
    if isinstance(source, (list, tuple)):
        paths = [str(p) for p in source]
    else:
        source = str(source)
        ann = source if source.endswith(".json") else os.path.join(source, "annotations.json")
        if os.path.isfile(ann):
            root = os.path.dirname(os.path.abspath(ann))
            try:
                with open(ann, "r") as f:
                    entries = json.load(f).get("images", [])
                paths = [os.path.join(root, e["image"]) for e in entries]
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                raise EngineError("cannot read calibration images from %s: %s" % (ann, e))
        elif os.path.isdir(source):
            paths = []
            for d, _, files in os.walk(source):
                paths.extend(os.path.join(d, f) for f in files if f.lower().endswith(IMAGE_EXTENSIONS))
        else:
            raise EngineError("calibration source %s is neither an image folder nor a dataset (annotations.json)"
                              % source)
    paths = sorted(p for p in paths if os.path.isfile(p))
    if not paths:
        raise EngineError("no calibration images found in %s" % (source,))
    if limit and len(paths) > limit:
        step = len(paths) / float(limit)
        paths = [paths[int(i * step)] for i in range(limit)]
    return paths


def calibrator_class(trt):
    """The EntropyCalibrator class for this tensorrt module (EngineError where INT8 calibration does not exist)."""
    base = getattr(trt, "IInt8EntropyCalibrator2", None)
    if base is None:
        raise EngineError("TensorRT %s has no INT8 calibrators (removed in 11.x): quantize the ONNX with Q/DQ nodes "
                          "instead" % getattr(trt, "__version__", "?"))
    cls = _classes.get(trt)
    if cls is not None:
        return cls

    class EntropyCalibrator(base):
        """Feeds `images` through `adapter.preprocess` into a pinned buffer, copies it to the GPU, hands the pointers
        to TensorRT; reads and writes the calibration cache file `cache_path`.

        `get_batch(names)` returns one device pointer per name, in TensorRT's order: TensorRT's trampoline copies
        len(names) pointers (python/src/infer/pyInt8.cpp). The adapter's input gets the images; other inputs take
        `extra_inputs` {name: one item's array}, repeated over the batch. An input with neither ends calibration
        with an error naming it (an exception cannot cross TensorRT's C++ callback)."""

        def __init__(self, runtime, adapter, images, batch, cache_path, extra_inputs=None):
            base.__init__(self)
            self.runtime = runtime
            self.adapter = adapter
            self.images = list(images)
            self.batch = max(1, int(batch))
            self.cache_path = cache_path
            self.extra_inputs = dict((k, np.asarray(v)) for k, v in (extra_inputs or {}).items())
            self.index = 0
            self.batches = 0
            self.buffer = None
            self.extra_buffers = {}

        def get_batch_size(self):
            return self.batch

        def _pointer(self, name):
            from .gpu_runtime import HostDeviceBuffer, cuda_driver
            if name == self.adapter.input.name:
                return self.buffer.device_ptr
            buf = self.extra_buffers.get(name)
            if buf is None and name in self.extra_inputs:
                item = self.extra_inputs[name]
                buf = self.extra_buffers[name] = HostDeviceBuffer((self.batch,) + item.shape, item.dtype)
                buf.host[:] = item
                cuda_driver().memcpy_htod(buf.device, buf.host)
            return None if buf is None else buf.device_ptr

        def get_batch(self, names):
            import cv2
            from .gpu_runtime import HostDeviceBuffer, cuda_driver
            if self.index >= len(self.images):
                return None
            with self.runtime.activate():
                if self.buffer is None:
                    self.buffer = HostDeviceBuffer((self.batch,) + tuple(self.adapter.input_shape),
                                                   self.adapter.input.dtype)
                host = self.buffer.host
                k = 0
                while k < self.batch and self.index < len(self.images):
                    path = self.images[self.index]
                    self.index += 1
                    img = cv2.imread(path, cv2.IMREAD_COLOR)
                    if img is None:
                        logger.warning("calibration: cannot read {}; skipped", path)
                        continue
                    self.adapter.preprocess(img, host[k])
                    k += 1
                if k == 0:
                    return None
                for j in range(k, self.batch):  # a short last batch repeats its images
                    host[j] = host[j % k]
                cuda_driver().memcpy_htod(self.buffer.device, host)
                pointers = [self._pointer(str(n)) for n in names]
            missing = [str(n) for n, p in zip(names, pointers) if p is None]
            if missing:
                logger.error("INT8 calibration has no data for input {} (it feeds the image input {} and {}): "
                             "calibration stops", ", ".join(missing), self.adapter.input.name,
                             ", ".join(sorted(self.extra_inputs)) or "nothing else")
                return None
            self.batches += 1
            if self.batches == 1 or self.batches % 10 == 0:
                logger.info("INT8 calibration: {}/{} images", self.index, len(self.images))
            return pointers

        def read_calibration_cache(self):
            if self.cache_path and os.path.isfile(self.cache_path):
                logger.info("INT8 calibration cache: {}", self.cache_path)
                with open(self.cache_path, "rb") as f:
                    return f.read()
            return None

        def write_calibration_cache(self, cache):
            if not self.cache_path:
                return
            d = os.path.dirname(os.path.abspath(self.cache_path))
            if not os.path.isdir(d):
                os.makedirs(d)
            with open(self.cache_path, "wb") as f:
                f.write(cache)
            logger.info("INT8 calibration cache written: {}", self.cache_path)

        def free(self):
            with self.runtime.activate():
                for buf in [self.buffer] + list(self.extra_buffers.values()):
                    if buf is not None:
                        buf.free()
            self.buffer = None
            self.extra_buffers = {}

    _classes[trt] = EntropyCalibrator
    return EntropyCalibrator
