"""Weight-average ONNX detectors of one graph (a model soup, Wortsman et al. 2022): every float initializer becomes
the weighted mean of the inputs'; graph and metadata come from the first model, plus `trafficpipe.soup`.

Usage: python tools/average_models.py OUT.onnx MODEL.onnx:WEIGHT [MODEL.onnx:WEIGHT ...]
"""
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def main(argv):
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__.strip())
        return
    if len(argv) < 3 or not all(":" in a for a in argv[1:]):
        raise SystemExit(__doc__.strip().splitlines()[-1].strip() + "  (two models or more, each with its weight)")
    out, specs = argv[0], [a.rsplit(":", 1) for a in argv[1:]]
    weights = np.array([float(w) for _, w in specs])
    weights = weights / weights.sum()
    models = [onnx.load(p) for p, _ in specs]
    first = models[0]
    others = [{i.name: i for i in m.graph.initializer} for m in models[1:]]
    for init in first.graph.initializer:
        arr = numpy_helper.to_array(init)
        if not np.issubdtype(arr.dtype, np.floating):
            continue
        acc = arr.astype(np.float64) * weights[0]
        for w, o in zip(weights[1:], others):
            other = numpy_helper.to_array(o[init.name])
            if other.shape != arr.shape:
                raise SystemExit("%s: %s has shape %s, not %s" % (out, init.name, other.shape, arr.shape))
            acc += other.astype(np.float64) * w
        init.CopyFrom(numpy_helper.from_array(acc.astype(arr.dtype), init.name))
    soup = " + ".join("%.3g * %s" % (w, os.path.basename(p)) for w, (p, _) in zip(weights, specs))
    props = [p for p in first.metadata_props if p.key != "trafficpipe.soup"]
    del first.metadata_props[:]
    first.metadata_props.extend(props)
    first.metadata_props.add(key="trafficpipe.soup", value=soup)
    onnx.save(first, out)
    sys.stdout.write("wrote %s = %s\n" % (out, soup))


if __name__ == "__main__":
    main(sys.argv[1:])
