"""The TensorRT plan cache: a plan is reused only when everything that makes it valid is the same.

A serialized engine is tied to the TensorRT version and to the GPU it was built on (TensorRT#564, #2176,
jetson-inference#426: plans copied between machines or kept across upgrades fail or misbehave). The key therefore holds
the ONNX file's sha256, the TensorRT version, the GPU name and compute capability, the precision, the batch and the
input shape. Each plan `<name>.plan` has a JSON sidecar `<name>.plan.json` with that key and the plan's own sha256; a
plan whose sidecar is missing, unreadable or different, or whose bytes changed, is rebuilt -- never loaded blindly.
"""
import hashlib
import json
import os
import time

from ..log import logger

KEY_FIELDS = ("onnx_sha256", "tensorrt", "gpu", "compute_capability", "precision", "batch", "input_shape")
SIDECAR_SUFFIX = ".json"


def plan_key(onnx_sha256, tensorrt_version, gpu, compute_capability, precision, batch, input_shape, profiles=1):
    # type: (str, str, str, tuple, str, int, tuple, int) -> dict
    """The cache key of a plan, as a JSON-ready dict (`profiles`: optimization profiles, named only when several)."""
    key = {"onnx_sha256": str(onnx_sha256), "tensorrt": str(tensorrt_version), "gpu": str(gpu),
           "compute_capability": "%d.%d" % tuple(compute_capability)[:2], "precision": str(precision),
           "batch": int(batch), "input_shape": [int(d) for d in input_shape]}
    if int(profiles) > 1:
        key["profiles"] = int(profiles)
    return key


def key_digest(key):
    # type: (dict) -> str
    """A short stable digest of a key (part of the plan's file name)."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def sidecar_path(plan_path):
    # type: (str) -> str
    return plan_path + SIDECAR_SUFFIX


def _sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def read_sidecar(plan_path):
    # type: (str) -> dict
    """The sidecar of `plan_path`, or None when it is missing or not a JSON object."""
    try:
        with open(sidecar_path(plan_path), "r") as f:
            side = json.load(f)
    except (IOError, OSError, ValueError):
        return None
    return side if isinstance(side, dict) else None


def check_plan(plan_path, key):
    # type: (str, dict) -> tuple
    """(plan bytes, None) when `plan_path` is valid for `key`, else (None, reason)."""
    if not os.path.isfile(plan_path):
        return None, "no plan"
    side = read_sidecar(plan_path)
    if side is None:
        return None, "its sidecar %s is missing or unreadable" % os.path.basename(sidecar_path(plan_path))
    stored = side.get("key")
    if not isinstance(stored, dict):
        return None, "its sidecar has no key"
    diff = [f for f in KEY_FIELDS if stored.get(f) != key.get(f)]
    if diff:
        return None, "it was built for another %s (%s)" % (
            ", ".join(diff), ", ".join("%s=%s" % (f, stored.get(f)) for f in diff))
    with open(plan_path, "rb") as f:
        data = f.read()
    if _sha256_bytes(data) != side.get("plan_sha256"):
        return None, "its bytes do not match the sidecar (truncated or overwritten)"
    return data, None


def write_plan(plan_path, data, key, extra=None):
    """Write `data` to `plan_path` and its sidecar, each through a temporary file and a rename."""
    d = os.path.dirname(os.path.abspath(plan_path))
    if not os.path.isdir(d):
        os.makedirs(d)
    data = bytes(data)
    side = {"key": key, "plan_sha256": _sha256_bytes(data), "plan_bytes": len(data),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    side.update(extra or {})
    tmp = "%s.tmp%d" % (plan_path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, plan_path)
    tmp = "%s.tmp%d" % (sidecar_path(plan_path), os.getpid())
    with open(tmp, "w") as f:
        json.dump(side, f, indent=1, sort_keys=True)
    os.replace(tmp, sidecar_path(plan_path))


class PlanCache(object):
    """Plans under `root` named `<model>-<precision>-b<batch>-<key digest>.plan`, each with its JSON sidecar."""

    def __init__(self, root):
        self.root = root

    def path_for(self, model_name, key):
        # type: (str, dict) -> str
        stem = os.path.splitext(os.path.basename(model_name))[0]
        return os.path.join(self.root, "%s-%s-b%d-%s.plan" % (stem, key["precision"], key["batch"], key_digest(key)))

    def load(self, plan_path, key):
        # type: (str, dict) -> bytes
        """The cached plan for `key`, or None (with the reason logged when a stale plan is found)."""
        data, reason = check_plan(plan_path, key)
        if data is None and reason != "no plan":
            logger.warning("rebuilding TensorRT plan {}: {}", os.path.basename(plan_path), reason)
        return data

    def store(self, plan_path, data, key, extra=None):
        write_plan(plan_path, data, key, extra)
        logger.info("TensorRT plan cached: {}", plan_path)
