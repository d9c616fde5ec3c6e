"""Rewrite a fixed-shape PicoDet ONNX model (and its model card) for another input size, to measure what a larger or
aspect-matched input does to accuracy and speed. The weights are unchanged: PicoDet is fully convolutional; only the
input shape, the channel-shuffle reshapes and the output shapes depend on the size.

Usage: python tools/resize_input.py MODEL.onnx WIDTH HEIGHT OUT.onnx   (WIDTH and HEIGHT multiples of 32)
"""
import json
import math
import os
import sys

import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trafficpipe.engines.onnx_graph import file_sha256, load_onnx  # noqa: E402
from trafficpipe.errors import ModelError  # noqa: E402
from trafficpipe.models.model_card import card_path, read_card  # noqa: E402

STRIDES = (8, 16, 32, 64)


def input_side(model):
    """(height, width) of a model's NCHW input."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return dims[2].dim_value, dims[3].dim_value


def resize(model, width, height):
    # type: (onnx.ModelProto, int, int) -> onnx.ModelProto
    """The model for width x height inputs: its reshape targets of the old map sizes (H/s, W/s) become the new ones."""
    outs = model.graph.output
    widths = [[d.dim_value for d in o.type.tensor_type.shape.dim][-1:] for o in outs]
    if len(outs) != 2 * len(STRIDES) or any(w != [32] for w in widths[len(STRIDES):]):
        raise ModelError("not a PicoDet graph: expected 4 score maps and 4 box maps [1,N,32], got %d output(s)"
                         % len(outs))
    old_h, old_w = input_side(model)
    maps = {(old_h // s, old_w // s): (height // s, width // s) for s in STRIDES[:3]}
    targets = {n.input[1] for n in model.graph.node if n.op_type == "Reshape"}
    for init in model.graph.initializer:
        if init.name not in targets:
            continue
        shape = numpy_helper.to_array(init)
        key = tuple(int(v) for v in shape[-2:]) if shape.size >= 4 else None
        if key in maps:
            new = shape.copy()
            new[-2:] = maps[key]
            init.CopyFrom(numpy_helper.from_array(new, init.name))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value, dims[3].dim_value = height, width
    for i, out in enumerate(model.graph.output):
        s = STRIDES[i % len(STRIDES)]
        out.type.tensor_type.shape.dim[1].dim_value = math.ceil(height / s) * math.ceil(width / s)
    del model.graph.value_info[:]
    onnx.checker.check_model(model)
    return model


def main(argv):
    if len(argv) != 4 or not argv[1].isdigit() or not argv[2].isdigit():
        raise SystemExit("usage: python tools/resize_input.py MODEL.onnx WIDTH HEIGHT OUT.onnx")
    src, width, height, out = argv[0], int(argv[1]), int(argv[2]), argv[3]
    if not width or not height or width % 32 or height % 32:
        raise SystemExit("resize_input: WIDTH and HEIGHT must be multiples of 32, got %dx%d" % (width, height))
    if os.path.abspath(out) == os.path.abspath(src):
        raise SystemExit("resize_input: OUT.onnx must differ from MODEL.onnx (the source is never overwritten)")
    try:
        model = resize(load_onnx(src), width, height)
    except ModelError as e:
        raise SystemExit("resize_input: %s" % e)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    replaced = os.path.exists(out)
    onnx.save(model, out)
    card = read_card(src)
    if card is not None:
        card["name"] = os.path.splitext(os.path.basename(out))[0]
        card["file"] = os.path.basename(out)
        card["input"]["shape"] = [1, 3, height, width]
        card["sha256"] = file_sha256(out)
        if "evaluation" in card:
            card["evaluation"]["stale"] = "measured at the original input size"
        with open(card_path(out), "w") as f:
            json.dump(card, f, indent=1)
    sys.stdout.write("wrote %s (%dx%d input)%s\n"
                     % (out, width, height, ", replacing the earlier file" if replaced else ""))


if __name__ == "__main__":
    main(sys.argv[1:])
