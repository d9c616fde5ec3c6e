#!/usr/bin/env bash
# Runs `trafficpipe detect` under a real Python 3.6 (the Jetson Nano's) with the newest wheels that still support it:
# numpy 1.19, OpenCV 4.5, ONNX Runtime 1.10 (no onnx/onnxslim: graphs are used as they are).
set -euo pipefail
cd "$(dirname "$0")/.."
py36=""
for cand in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.6*/bin/python3.6 2>/dev/null) python3.6; do
  if "$cand" -c "import sys; assert sys.version_info[:2] == (3, 6)" 2>/dev/null; then py36=$cand; break; fi
done
if [ -z "$py36" ]; then echo "== python3.6 smoke run: SKIPPED (no python3.6 on this machine)"; exit 0; fi
echo "== python3.6 smoke run ($py36)"
venv=${TMPDIR:-/tmp}/trafficpipe-py36
[ -x "$venv/bin/python" ] || "$py36" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade "pip<22" 2>/dev/null
"$venv/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: \
  "numpy==1.19.5" "opencv-python-headless==4.5.5.64" "onnxruntime==1.10.0" "loguru<0.8" "tqdm<4.65" 2>/dev/null
out=$(mktemp -d)
TRAFFICPIPE_CACHE="$out/cache" PYTHONPATH="$PWD" "$venv/bin/python" -m trafficpipe detect \
  "$TRAFFICPIPE_DATA/videos/highway-360p.mp4" --out "$out" --max-frames 20 --model yolox-nano --log-level WARNING
test "$(wc -l < "$out/highway-360p.jsonl")" -eq 20
"$venv/bin/python" - "$out/highway-360p.mp4" <<'PY'
import sys, cv2
cap = cv2.VideoCapture(sys.argv[1]); n = 0
while cap.read()[0]:
    n += 1
assert n == 20, n
print("python3.6: 20 frames detected and written, video plays back")
PY
# decoder processes (spawned children, shared-memory rings) under Python 3.6 and numpy 1.19 too
TRAFFICPIPE_CACHE="$out/cache" PYTHONPATH="$PWD" "$venv/bin/python" -m trafficpipe detect \
  "$TRAFFICPIPE_DATA/videos/highway-360p.mp4" --out "$out/dp" --max-frames 150 --model yolox-nano --save jsonl \
  --decode-processes 2 --log-level WARNING
"$venv/bin/python" - "$out/dp/highway-360p.jsonl" <<'PY'
import json, sys
frames = [json.loads(l)["frame"] for l in open(sys.argv[1])]
assert frames == list(range(150)), frames[:5]
print("python3.6: --decode-processes 2 wrote 150 frames in order")
PY
rm -rf "$out"
