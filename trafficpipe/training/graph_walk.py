"""Walking an ONNX graph backwards from its outputs (onnx only): how the PicoDet and YOLOX graph modules find the nodes
training and export touch."""
from ..errors import ModelError


def producers(graph):
    # type: (object) -> dict
    """Tensor name -> the node that produces it."""
    return {o: n for n in graph.node for o in n.output}


def back(prod, name, op, family):
    # type: (dict, str, str, str) -> object
    """The node producing tensor `name`, which must be an `op` node; else ModelError ("not a `family` export")."""
    node = prod.get(name)
    if node is None or node.op_type != op:
        raise ModelError("not a %s export: expected a %s node producing %s, found %s"
                         % (family, op, name, node.op_type if node is not None else "a graph input"))
    return node
