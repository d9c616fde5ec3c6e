"""Shared fixtures: the shared data folder (TRAFFICPIPE_DATA, default ../shared) must exist; tests never skip for lack of it."""
import os
import sys

import pytest

from trafficpipe.paths import data_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))


#: fixtures that read the shared models, data or videos; a test using one, or in a module that reads them itself, is
#: marked `data` (CI runs every test; `pytest -m "not data"` runs the pure-logic ones without ../shared)
DATA_FIXTURES = {"shared", "video_360p", "video_720p", "dev_set", "picodet320", "picodet416"}


def pytest_configure(config):
    os.environ.setdefault("TRAFFICPIPE_DATA", os.path.join(ROOT, "..", "shared"))
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    d = data_dir()
    if not os.path.isdir(os.path.join(d, "models")) and "not data" not in (config.option.markexpr or ""):
        raise pytest.UsageError("shared data not found at %s: set TRAFFICPIPE_DATA (or run -m 'not data')" % d)


def _reads_shared(module, cache={}):
    path = module.__file__
    if path not in cache:
        with open(path) as f:
            text = f.read()
        cache[path] = any(w in text for w in ("data_dir(", "TRAFFICPIPE_DATA", "trt_support", "training_helpers",
                                               "yolox-nano", "picodet-s-", "_coco.onnx", "videos"))
    return cache[path]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if DATA_FIXTURES & set(getattr(item, "fixturenames", ())) or _reads_shared(item.module):
            item.add_marker(pytest.mark.data)


@pytest.fixture(scope="session")
def shared():
    return data_dir()


@pytest.fixture(scope="session")
def video_360p(shared):
    return os.path.join(shared, "videos", "highway-360p.mp4")


@pytest.fixture(scope="session")
def video_720p(shared):
    return os.path.join(shared, "videos", "highway-720p.mp4")


@pytest.fixture(scope="session")
def dev_set(shared):
    return os.path.join(shared, "data", "traffic-dev")


@pytest.fixture(scope="session")
def picodet320():
    from trafficpipe import Detector
    d = Detector("picodet-s-320", threads=2)
    yield d
    d.close()


@pytest.fixture(scope="session")
def picodet416():
    from trafficpipe import Detector
    d = Detector("picodet-s-416", threads=2)
    yield d
    d.close()
