"""A Detector bundles one engine and one model adapter: the unit the pipeline, eval and bench all use."""
import os
import threading

import numpy as np

from .engines.factory import check_engine_options, create_engine
from .errors import ModelError, TrafficpipeError
from .log import logger
from .models.base import check_thresholds
from .models.classes import parse_classes
from .models.model_card import model_classes
from .models.registry import create_adapter, find_model, guess_family


class DetectorError(TrafficpipeError, ValueError):
    """A Detector call it cannot serve: an image that is not a BGR uint8 array of shape (H, W, 3), a batch that is no
    list of them, or a call after `close()`. One line, as every TrafficpipeError; a ValueError too, for callers that
    catch those."""


#: the Detector's own keyword arguments (any other keyword must be an engine option, engines.factory.ENGINE_OPTIONS)
_OWN_ARGS = ("model", "engine", "precision", "classes", "conf", "iou", "arch", "threads", "max_det")
_EXPECTED = "expected a BGR uint8 image of shape (H, W, 3)"
_UINT8 = np.dtype(np.uint8)


def _image_problem(image):
    # type: (object) -> str
    """Why `image` is no BGR uint8 image of shape (H, W, 3), or "" when it is one (or is a frame on a device: those
    the engines that take them check)."""
    if isinstance(image, np.ndarray):
        shape = image.shape
        if image.dtype == _UINT8 and len(shape) == 3 and shape[2] == 3 and shape[0] > 0 and shape[1] > 0:
            return ""
        if image.dtype != _UINT8:
            hint = ""
            if image.dtype.kind == "f":
                hint = " (scale it to 0..255 first: (img * 255).astype(np.uint8) for values 0..1)"
            elif image.dtype.kind in "ui":
                hint = " (convert it to 8 bits first, e.g. (img >> 8).astype(np.uint8) for 16-bit values)"
            return "%s, got %s of shape %s%s" % (_EXPECTED, image.dtype, shape, hint)
        if image.size == 0:
            return "%s, got an empty image of shape %s" % (_EXPECTED, shape)
        hint = ""
        if len(shape) == 2 or (len(shape) == 3 and shape[2] == 1):
            hint = " (a grayscale image: cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))"
        elif len(shape) == 3 and shape[2] == 4:
            hint = " (a BGRA image: cv2.cvtColor(img, cv2.COLOR_BGRA2BGR))"
        elif len(shape) == 4:
            hint = " (a batch: detect_batch takes it)"
        return "%s, got shape %s%s" % (_EXPECTED, shape, hint)
    if image is None:
        return "%s, got None (cv2.imread gives None for a file it cannot read)" % _EXPECTED
    if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        return "%s, got the path %r (read it first: cv2.imread(path))" % (_EXPECTED, str(image))
    if type(image).__module__.split(".")[0] == "PIL":
        return "%s, got a PIL image (convert it: cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR))" % _EXPECTED
    if isinstance(image, (list, tuple, dict, set)) or not hasattr(image, "shape"):
        return "%s, got %s" % (_EXPECTED, type(image).__name__)
    return ""  # an array of another library (a GPU-decoded frame): not ours to judge


def _check_classes(classes):
    """TrafficpipeError unless `classes` is None, a comma-separated str or a list of class names (str)."""
    if classes is None or isinstance(classes, str):
        return
    try:
        names = list(classes)
    except TypeError:
        names = None
    if names is None or not all(isinstance(n, str) for n in names):
        raise TrafficpipeError("classes: expected traffic class names (a list of str, or one comma-separated str), "
                               "got %r" % (classes,))


class Detector(object):
    """Model file + engine + adapter. `detect(image)` runs one image synchronously (for scripts and tests).

    `model` is a model name, file name or path (str or pathlib.Path); `conf`/`iou` are the score threshold and
    per-class NMS IoU (numbers from 0 to 1); `max_det` is the most detections per image (1 or more); `classes` selects
    traffic classes by name (None = all). Other keywords are engine options (engines.factory.ENGINE_OPTIONS); a bad
    value or an unknown keyword is a TrafficpipeError at construction.

    Images are BGR uint8 numpy arrays of shape (H, W, 3), as cv2.imread gives them; anything else is a DetectorError.
    One Detector may be shared by several threads: its `detect`/`detect_batch` calls are serialized (one runs at a
    time; for parallel inference, use one Detector per thread, or the Pipeline). After `close()` they raise
    DetectorError.
    """

    def __init__(self, model=None, engine="onnxruntime", precision="fp32", classes=None, conf=0.3, iou=0.45,
                 arch=None, threads=0, max_det=300, **engine_options):
        check_engine_options(engine_options, "Detector", _OWN_ARGS)  # before loading anything: cheap, one line
        check_thresholds(conf, iou, max_det)
        _check_classes(classes)
        class_names = parse_classes(classes)
        self._lock = threading.Lock()
        self._closed = False
        self._ctx = None
        self.model_path = find_model(model)
        self.engine = create_engine(engine, self.model_path, precision=precision, threads=threads, **engine_options)
        try:
            self.family = arch or guess_family(self.model_path, self.engine.outputs)
            options = dict(classes=class_names, conf=conf, iou=iou, max_det=max_det)
            own_classes = model_classes(self.model_path)
            if own_classes is not None:
                options["model_classes"] = own_classes
            self.adapter = self.engine.attach_adapter(
                create_adapter(self.family, self.engine.inputs, self.engine.outputs, **options))
        except Exception:
            self.engine.close()
            raise
        logger.debug("detector: {} ({}) on {}", os.path.basename(self.model_path), self.family, self.engine.name)

    @property
    def output_names(self):
        return self.engine.output_names

    @property
    def closed(self):
        # type: () -> bool
        return self._closed

    def detect(self, image, tiles=None):
        """Detections of one BGR uint8 image (H, W, 3); `tiles` (a models.tiling.TilePlan) runs a frame far wider or
        taller than the model's input whole and as overlapping tiles, merged."""
        problem = _image_problem(image)
        if problem:
            raise DetectorError(problem)
        if tiles is not None:
            h, w = image.shape[:2]
            crops = tiles.crops(w, h, self.adapter.width, self.adapter.height)
            if len(crops) > 1:
                from .models.tiling import merge_tiles
                parts = self._run([image[y0:y1, x0:x1] for x0, y0, x1, y1 in crops])
                return merge_tiles(parts, crops, w, h, self.adapter.iou, self.adapter.max_det)
        return self._run([image])[0]

    def detect_batch(self, images):
        """Detections of several BGR uint8 images: a list (or tuple) of (H, W, 3) arrays, sizes may differ, or one
        (N, H, W, 3) array; one call of the engine, in a private execution context."""
        if isinstance(images, np.ndarray):
            if images.ndim != 4:
                raise DetectorError("detect_batch takes a list of BGR uint8 images or an (N, H, W, 3) uint8 array, "
                                    "got an array of shape %s%s" % (images.shape, " (one image: use detect)"
                                                                    if images.ndim == 3 else ""))
        elif not isinstance(images, (list, tuple)):
            if images is None or isinstance(images, (str, bytes)) or not hasattr(images, "__iter__"):
                raise DetectorError("detect_batch takes a list of BGR uint8 images, got %s"
                                    % ("None" if images is None else type(images).__name__))
            images = list(images)  # a generator, a deque, ...
        for i, image in enumerate(images):
            problem = _image_problem(image)
            if problem:
                raise DetectorError("image %d of the batch: %s" % (i, problem))
        return self._run(images)

    def _run(self, images):
        """Detections of checked `images`; one call at a time (the execution context is the Detector's own)."""
        if len(images) == 0:
            if self._closed:
                raise DetectorError("this Detector is closed")
            return []
        with self._lock:
            if self._closed:
                raise DetectorError("this Detector is closed")
            ctx = self._ctx
            if ctx is None or ctx.batch < len(images):
                if ctx is not None:
                    self._ctx = None
                    ctx.close()
                    if ctx in self.engine.contexts:
                        self.engine.contexts.remove(ctx)
                ctx = self._ctx = self.engine.create_context(1, len(images))
            slot = ctx.acquire()
            try:
                buf = slot.host_inputs[self.adapter.input.name]
                metas = [self.adapter.preprocess(img, buf[i]) for i, img in enumerate(images)]
                slot.size = len(images)
                ctx.run(slot)
                return [self.adapter.postprocess(slot.output_list(self.output_names, i), m)
                        for i, m in enumerate(metas)]
            finally:
                ctx.release(slot)

    def describe(self):
        # type: () -> dict
        d = dict(self.engine.describe())
        d.update({"model": os.path.basename(self.model_path), "family": self.family, "conf": self.adapter.conf,
                  "iou": self.adapter.iou, "classes": list(self.adapter.classes)})
        return d

    def close(self):
        """Release the engine (a call in progress on another thread finishes first); closing twice is harmless."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._ctx = None
            self.engine.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def check_model_file(path):
    if not os.path.isfile(path):
        raise ModelError("model file %s does not exist" % path)
