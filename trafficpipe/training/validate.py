"""Validation during training: the torch model on the validation set, prepared and decoded by the project's adapter
of the model's family (PicoDet or YOLOX, the one `trafficpipe eval` runs the exported file through) and scored by the
project's eval code (VOC AP50 on exhaustive classes, as `trafficpipe eval` scores), plus the road-sign figures of
model_eval.road_sign_figures.
"""
import cv2
import numpy as np
import torch

from ..engines.base import TensorSpec
from ..errors import DatasetError
from ..eval.dataset import Dataset, load_dataset
from ..eval.scoring import score_detections
from ..models.classes import TRAFFIC_CLASSES
from ..models.picodet import PicoDetAdapter
from .model_eval import road_sign_figures
from .picodet_graph import BOX_CHANNELS


def picodet_adapter(imgsz, conf, iou, classes=TRAFFIC_CLASSES):
    """The project's PicoDet adapter for a K-class PicoDet of input imgsz (the shapes of the exported ONNX)."""
    inputs = [TensorSpec("image", (1, 3, imgsz, imgsz))]
    outs = []
    for s in (8, 16, 32, 64):
        n = (-(-imgsz // s)) ** 2
        outs.append((n, len(classes)))
    specs = [TensorSpec("score%d" % i, (1, n, k)) for i, (n, k) in enumerate(outs)]
    specs += [TensorSpec("box%d" % i, (1, n, BOX_CHANNELS)) for i, (n, _) in enumerate(outs)]
    return PicoDetAdapter(inputs, specs, classes=TRAFFIC_CLASSES, conf=conf, iou=iou, model_classes=classes)


class Validator(object):
    """Scores a network of build_network on a dataset folder (conf 0.001 and NMS 0.45 as `trafficpipe eval`). Images
    are read and resized (or letterboxed) once by the family adapter's own preprocessing, kept in memory. `base`: the
    network's training base (net.base). `dataset`: a Dataset or a dataset folder."""

    def __init__(self, dataset, imgsz=416, conf=0.001, iou=0.45, batch=32, limit=None, *, base):
        ds = dataset if isinstance(dataset, Dataset) else load_dataset(dataset)
        self.dataset = ds.subset(limit=limit) if limit else ds
        self.imgsz = imgsz
        self.batch = batch
        self.base = base
        self.adapter = base.adapter(imgsz, conf, iou)
        self.images = np.zeros((len(self.dataset), imgsz, imgsz, 3), np.uint8)
        self.metas = []
        for i, im in enumerate(self.dataset.images):
            img = cv2.imread(im.path, cv2.IMREAD_COLOR)
            if img is None:  # passed the header checks (training/checks.py) but does not decode
                raise DatasetError("validation set %s: cannot read image %s; fix or remove it"
                                   % (self.dataset.root, im.image))
            self.metas.append(self.adapter.preprocess_u8(img, self.images[i]))  # BGR, as at inference
            if base.channels == "rgb":
                self.images[i] = cv2.cvtColor(self.images[i], cv2.COLOR_BGR2RGB)
        self._levels = [(-(-imgsz // s)) ** 2 for s in base.strides]

    @torch.no_grad()
    def detect(self, net, device):
        """Detections (the adapter's) of every image, in dataset order."""
        was_training = net.training
        net.eval()
        dets = []
        channels_last = device.type == "cuda"
        try:
            for start in range(0, len(self.images), self.batch):
                x = torch.from_numpy(self.images[start:start + self.batch]).to(device, non_blocking=True)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    cls, reg = net(self.base.normalize(x, channels_last))
                scores = cls.float().sigmoid().cpu().numpy()
                reg = reg.float().cpu().numpy()
                for j in range(scores.shape[0]):
                    outs = self.base.adapter_outputs(scores[j], reg[j], self._levels)
                    dets.append(self.adapter.postprocess(outs, self.metas[start + j]))
        finally:
            net.train(was_training)
        return dets

    def evaluate(self, net, device):
        # type: (object, object) -> dict
        """{"ap50": {class: AP50}, "map50", "road_sign": {ap50, precision, recall} at conf 0.3, "score"}.

        `score` (model selection) = mean of the exhaustive classes' AP50 and the road-sign AP50 on its partial labels.
        """
        dets = self.detect(net, device)
        res = score_detections(self.dataset, dets)
        out = {"ap50": {name: r.ap50 for name, r in res.classes.items()}, "map50": res.map50}
        signs = road_sign_figures(self.dataset, dets)
        if signs is not None:
            out["road_sign"] = signs
        parts = [v for v in out["ap50"].values() if v is not None]
        if "road_sign" in out:
            parts.append(out["road_sign"]["ap50"])
        out["score"] = float(np.mean(parts)) if parts else 0.0
        return out
