"""Shared fixtures: the shared data folder (TRAFFICPIPE_DATA, default ../shared) must exist; tests never skip for lack of it."""
import os
import sys

import pytest

from trafficpipe.paths import data_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))


def pytest_configure(config):
    os.environ.setdefault("TRAFFICPIPE_DATA", os.path.join(ROOT, "..", "shared"))
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    d = data_dir()
    if not os.path.isdir(os.path.join(d, "models")):
        raise pytest.UsageError("shared data not found at %s: set TRAFFICPIPE_DATA" % d)


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
