"""A Detector bundles one engine and one model adapter: the unit the pipeline, eval and bench all use."""
import os

from .engines.factory import create_engine
from .errors import ModelError
from .log import logger
from .models.classes import parse_classes
from .models.model_card import model_classes
from .models.registry import create_adapter, find_model, guess_family


class Detector(object):
    """Model file + engine + adapter. `detect(image)` runs one image synchronously (for scripts and tests).

    `conf`/`iou` are the score threshold and per-class NMS IoU; `classes` selects traffic classes (None = all).
    """

    def __init__(self, model=None, engine="onnxruntime", precision="fp32", classes=None, conf=0.3, iou=0.45,
                 arch=None, threads=0, max_det=300, **engine_options):
        self.model_path = find_model(model)
        self.engine = create_engine(engine, self.model_path, precision=precision, threads=threads, **engine_options)
        try:
            self.family = arch or guess_family(self.model_path, self.engine.outputs)
            options = dict(classes=parse_classes(classes), conf=conf, iou=iou, max_det=max_det)
            own_classes = model_classes(self.model_path)
            if own_classes is not None:
                options["model_classes"] = own_classes
            self.adapter = self.engine.attach_adapter(
                create_adapter(self.family, self.engine.inputs, self.engine.outputs, **options))
        except Exception:
            self.engine.close()
            raise
        self._ctx = None
        logger.debug("detector: {} ({}) on {}", os.path.basename(self.model_path), self.family, self.engine.name)

    @property
    def output_names(self):
        return self.engine.output_names

    def detect(self, image, tiles=None):
        """Detections of one BGR image; `tiles` (a models.tiling.TilePlan) runs a frame far wider or taller than the
        model's input whole and as overlapping tiles, merged."""
        if tiles is not None:
            h, w = image.shape[:2]
            crops = tiles.crops(w, h, self.adapter.width, self.adapter.height)
            if len(crops) > 1:
                from .models.tiling import merge_tiles
                parts = self.detect_batch([image[y0:y1, x0:x1] for x0, y0, x1, y1 in crops])
                return merge_tiles(parts, crops, w, h, self.adapter.iou, self.adapter.max_det)
        return self.detect_batch([image])[0]

    def detect_batch(self, images):
        """Detections of several BGR images, in one slot of a private execution context."""
        if not images:
            return []
        if self._ctx is None or self._ctx.batch < len(images):
            if self._ctx is not None:
                self._ctx.close()
                self.engine.contexts.remove(self._ctx)
            self._ctx = self.engine.create_context(1, len(images))
        ctx = self._ctx
        slot = ctx.acquire()
        try:
            buf = slot.host_inputs[self.adapter.input.name]
            metas = [self.adapter.preprocess(img, buf[i]) for i, img in enumerate(images)]
            slot.size = len(images)
            ctx.run(slot)
            return [self.adapter.postprocess(slot.output_list(self.output_names, i), m) for i, m in enumerate(metas)]
        finally:
            ctx.release(slot)

    def describe(self):
        # type: () -> dict
        d = dict(self.engine.describe())
        d.update({"model": os.path.basename(self.model_path), "family": self.family, "conf": self.adapter.conf,
                  "iou": self.adapter.iou, "classes": list(self.adapter.classes)})
        return d

    def close(self):
        self.engine.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def check_model_file(path):
    if not os.path.isfile(path):
        raise ModelError("model file %s does not exist" % path)
