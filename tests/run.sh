#!/usr/bin/env bash
# The project's test command (README): installs what the tests need, checks Python 3.6 compatibility, runs the suite.
#   - pip: the package with its [test] and [scale] (pyarrow, Ray) extras, torch (CPU) and onnx2torch for the torch/training tests
#   - Debian: GStreamer's RTSP server, which the live-stream tests start on 127.0.0.1; Xvfb (a virtual X display) and
#     xdotool (sends keys to a window), with which the live-view tests open a real window, screenshot it (Pillow's
#     ImageGrab over XCB) and close it (python-xlib, a pip test dependency)
#   - TRAFFICPIPE_DATA (default ../shared) must hold the shared models, data and videos: data tests never skip.
set -euo pipefail
cd "$(dirname "$0")/.."
export TRAFFICPIPE_DATA="${TRAFFICPIPE_DATA:-$(cd .. && pwd)/shared}"
test -d "$TRAFFICPIPE_DATA/models" || { echo "tests/run.sh: no shared data at $TRAFFICPIPE_DATA (set TRAFFICPIPE_DATA)" >&2; exit 1; }

python -m pip install -q --disable-pip-version-check -e ".[test,scale]" "torch==2.13.0"
python -m pip install -q --disable-pip-version-check --no-deps "onnx2torch>=1.5"  # its torchvision need is stubbed (trafficpipe/torchdeps.py)
# the editable install compiles nothing, and where PYTHONDONTWRITEBYTECODE is set no run caches it either: compiled
# once here, each of the suite's several hundred trafficpipe processes starts about 0.2 s sooner
python -m compileall -q trafficpipe >/dev/null

if ! /usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer" 2>/dev/null; then
  echo "installing GStreamer's RTSP server (Debian) for the live tests"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gir1.2-gst-rtsp-server-1.0 python3-gi \
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-rtsp >/dev/null
fi

if ! command -v Xvfb >/dev/null || ! command -v xdotool >/dev/null; then
  echo "installing Xvfb and xdotool (Debian) for the live-view tests"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends xvfb xdotool >/dev/null
fi

echo "== vermin: the trafficpipe package must parse for Python 3.6 (Jetson Nano)"
vermin -q -t=3.6- --no-tips --violations trafficpipe

bash tests/py36_smoke.sh

# Two workers (pytest-xdist), each taking a whole test file at a time: a file's services (a Ray cluster, an RTSP
# server, an X display) start once, and much of a test's time is waiting on a child process or a service.
# With no arguments: the longest files first (then the rest in order), so that neither worker is left alone with a
# long file at the end.
if [ $# -eq 0 ]; then
  set -- tests/test_score.py tests/test_decode_processes.py tests/test_training.py tests/test_output_safety.py \
    tests/test_cli_bad_values.py tests/test_reliability.py tests/test_bench_run.py tests/test_live.py tests/
fi
echo "== pytest"
python -m pytest -q -m "not gpu" -n "${TEST_WORKERS:-2}" --dist loadfile "$@"
