"""Training bases: what `trafficpipe train` needs to know of one detector family, chosen from the base ONNX graph.

A base owns its graph cut and network (`build`), input preparation (channel order, plain resize or letterbox,
`normalize`), box decoding, whether the boxes get a DFL loss, the adapter that validation decodes with (the one
`trafficpipe eval` uses on the exported file), the export back into the base graph and the model card's words.
The trainer, assigner, losses and validator are shared. This module imports onnx and torch only inside functions.
"""
from ..engines.base import TensorSpec
from ..engines.onnx_graph import cleaned_model_path, load_onnx
from ..errors import ModelError
from ..models.classes import TRAFFIC_CLASSES

HEAD_INIT = ("vehicle = car, pedestrian = person, bicycle = mean(bicycle, motorcycle), road_sign = stop sign, "
             "traffic_light = traffic light")


class TrainingBase(object):
    """One detector family's training facts; `path` is the base ONNX file."""

    family = ""
    strides = ()
    channels = "rgb"  # channel order of the uint8 images the network's normalize takes
    letterbox = False  # keep-ratio resize to the top-left of a padded canvas (else plain resize)
    dfl = False  # boxes as DFL distributions (distribution focal loss) or direct regression
    export_name = ""
    input_name = ""
    input_format = ""
    head_init = ""
    losses = ""
    train_view = ""  # how training and validation prepare images (model card)

    def __init__(self, path):
        self.path = path

    def load(self):
        """The base's onnx.ModelProto (cleaned)."""
        return load_onnx(cleaned_model_path(self.path))

    def build(self, classes=TRAFFIC_CLASSES, init=None, imgsz=416):
        """(trainable net, frozen teacher) for `classes`; net.base is this object."""
        raise NotImplementedError

    def normalize(self, images, channels_last=False):
        """uint8 [B,S,S,3] tensor in `channels` order -> the network's float input [B,3,S,S]."""
        raise NotImplementedError

    def decode_boxes(self, points, strides, reg):
        """Box outputs [..., A, R] -> boxes [..., A, 4] xyxy in input pixels (points: cell centres)."""
        raise NotImplementedError

    def adapter(self, imgsz, conf, iou, classes=TRAFFIC_CLASSES):
        """The project's adapter for the exported model's shapes (validation decodes with it)."""
        raise NotImplementedError

    def adapter_outputs(self, scores, reg, level_sizes):
        """One image's (class scores [A,K], box outputs [A,R]) as numpy -> the adapter's output list."""
        raise NotImplementedError

    def finish_graph(self, model, k):
        """Give the base graph's outputs k classes (in place), after the new weights are in."""
        raise NotImplementedError

    @classmethod
    def outputs_text(cls, k):
        # type: (int) -> str
        """The exported outputs, in words (model card)."""
        raise NotImplementedError


class PicoDetBase(TrainingBase):
    family = "picodet"
    strides = (8, 16, 32, 64)
    channels = "rgb"
    letterbox = False
    dfl = True
    export_name = "trafficpipe_picodet_s_416"
    input_name = "image"
    input_format = "RGB, plain resize (no letterbox), (x - [123.675,116.28,103.53]) / [58.395,57.12,57.375], NCHW"
    head_init = "class rows of the 4 head convolutions from COCO rows: " + HEAD_INIT
    losses = "quality focal loss (beta 2) on class scores + 2 * GIoU + 0.25 * distribution focal loss on boxes"
    train_view = ("training crops and validation images resized and normalised as the PicoDet adapter does: plain "
                  "resize to the square input, RGB, (x - mean) / std")

    def build(self, classes=TRAFFIC_CLASSES, init=None, imgsz=416):
        from .network import build_picodet
        net, teacher = build_picodet(self.load(), classes, init, imgsz)
        net.base = self
        return net, teacher

    def normalize(self, images, channels_last=False):
        from .network import normalize
        return normalize(images, channels_last)

    def decode_boxes(self, points, strides, reg):
        from ..models.picodet.torch_decode import dfl_boxes
        return dfl_boxes(points, strides, reg)

    def adapter(self, imgsz, conf, iou, classes=TRAFFIC_CLASSES):
        from .validate import picodet_adapter
        return picodet_adapter(imgsz, conf, iou, classes)

    def adapter_outputs(self, scores, reg, level_sizes):
        outs, a = [], 0
        for n in level_sizes:
            outs.append(scores[a:a + n])
            a += n
        a = 0
        for n in level_sizes:
            outs.append(reg[a:a + n])
            a += n
        return outs

    def finish_graph(self, model, k):
        from .export import set_picodet_classes
        set_picodet_classes(model, k)

    @classmethod
    def outputs_text(cls, k):
        return "4 score maps [1,N,%d] (sigmoid applied) for strides 8/16/32/64, then 4 DFL box maps [1,N,32]" % k


class YoloxBase(TrainingBase):
    family = "yolox"
    strides = (8, 16, 32)
    channels = "bgr"
    letterbox = True
    dfl = False
    export_name = "trafficpipe_yolox_nano_416"
    input_name = "images"
    input_format = ("BGR, 0-255 floats (no mean/std), keep-ratio resize by min(416/h, 416/w) to the top-left of a "
                    "416x416 canvas filled with 114, NCHW")
    head_init = ("class rows of the 3 cls convolutions from COCO rows (obj and reg convolutions kept): "
                 + HEAD_INIT)
    losses = ("quality focal loss (beta 2) on the score sigmoid(obj) * sigmoid(cls) (through its exact logit) + "
              "2 * GIoU on boxes decoded as YOLOX does (cx = (dx + col) * s, w = exp(log w) * s); no DFL")
    train_view = ("training crops (flipped before resizing) and validation images letterboxed as the YOLOX adapter "
                  "does: keep-ratio resize to the top-left of a 114 canvas, BGR 0-255, no mean/std; colour jitter "
                  "on the image only, the padding stays 114")

    def build(self, classes=TRAFFIC_CLASSES, init=None, imgsz=416):
        from .yolox_net import build_yolox
        net, teacher = build_yolox(self.load(), classes, init, imgsz)
        net.base = self
        return net, teacher

    def normalize(self, images, channels_last=False):
        from .yolox_net import normalize
        return normalize(images, channels_last)

    def decode_boxes(self, points, strides, reg):
        from .yolox_net import decode_boxes
        return decode_boxes(points, strides, reg)

    def adapter(self, imgsz, conf, iou, classes=TRAFFIC_CLASSES):
        from ..models.yolox import YoloxAdapter
        n = sum((-(-imgsz // s)) ** 2 for s in self.strides)
        return YoloxAdapter([TensorSpec("images", (1, 3, imgsz, imgsz))],
                            [TensorSpec("output", (1, n, 5 + len(classes)))], classes=TRAFFIC_CLASSES, conf=conf,
                            iou=iou, model_classes=classes)

    def adapter_outputs(self, scores, reg, level_sizes):
        """[A, 5+K]: the box columns, objectness 1 and the joint score as class score (the adapter multiplies them:
        the same score as sigmoid(obj) * sigmoid(cls) of the exported graph)."""
        import numpy as np
        one = np.ones((scores.shape[0], 1), scores.dtype)
        return [np.concatenate([reg.astype(scores.dtype), one, scores], 1)]

    def finish_graph(self, model, k):
        from .yolox_graph import set_num_classes
        set_num_classes(model, k)

    @classmethod
    def outputs_text(cls, k):
        return ("1 output [1,N,%d]: per cell of strides 8/16/32, dx, dy, log w, log h, objectness and %d class "
                "probabilities (sigmoid applied; score = obj * cls)" % (5 + k, k))


#: family -> TrainingBase class
BASES = {PicoDetBase.family: PicoDetBase, YoloxBase.family: YoloxBase}


def build_network(base_path, classes=TRAFFIC_CLASSES, init=None, imgsz=416):
    """(net, teacher): a trainable network for `classes` and a frozen teacher giving the base model's traffic-class
    scores, from the PicoDet or YOLOX ONNX file `base_path` (family told from the graph; net.base says which)."""
    return open_base(base_path).build(classes, init, imgsz)


def open_base(path):
    # type: (str) -> TrainingBase
    """The TrainingBase of the ONNX file at `path`, told from its graph; ModelError for other graphs."""
    from . import picodet_graph, yolox_graph
    model = load_onnx(cleaned_model_path(path))
    n_out = len(model.graph.output)
    if n_out == 8:
        picodet_graph.head_levels(model)
        return PicoDetBase(path)
    if n_out == 1:
        try:
            yolox_graph.head_levels(model)
        except ModelError as e:
            raise ModelError("%s; trafficpipe train fine-tunes PicoDet and YOLOX models only (e.g. "
                             "picodet_s_416_coco.onnx, yolox_nano_416.onnx)" % e)
        return YoloxBase(path)
    raise ModelError("%s is neither a PicoDet export (8 outputs) nor a YOLOX export (1 output [1,N,5+C]): it has %d "
                     "outputs; trafficpipe train fine-tunes PicoDet and YOLOX models only (e.g. "
                     "picodet_s_416_coco.onnx, yolox_nano_416.onnx)" % (path, n_out))
