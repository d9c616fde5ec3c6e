#!/usr/bin/env bash
# Annotated video and live capacity on a GPU host, side by side in one run: decode-only and encode-only ceilings
# (OpenCV mp4v and NVENC, bench/encode_probe.py; NVDEC, bench/nvdec_probe.py), the annotated-video pipeline and the jsonl one (`trafficpipe bench`,
# torch fp16, batch 4), and the live capacity of the 720p30 clip replayed as cameras (`trafficpipe bench --live`).
# Wheels and PyNvVideoCodec as for bench/gpu.sh (.gpu-carry/wheels, NVDEC_DIR or .gpu-carry/nvdec).
# Environment: OUT (results folder), GPU_FRAMES (450), GPU_LIVE ("8,16,32,64"), GPU_LIVE_SECONDS (8).
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu-video.log") 2>&1
CARRY=${CARRY:-$PWD/.gpu-carry}
if [ -d "$CARRY/wheels" ]; then
  python3 -m pip install -q --no-index --no-deps --upgrade --target /tmp/site "$CARRY"/wheels/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
  export TRAFFICPIPE_DATA=${TRAFFICPIPE_DATA:-$CARRY}
fi
NVDEC_DIR=${NVDEC_DIR:-$CARRY/nvdec}
[ -d "$NVDEC_DIR/PyNvVideoCodec" ] && export PYTHONPATH=$NVDEC_DIR:$PYTHONPATH
export PYTHONUNBUFFERED=1
VIDEO=${TRAFFICPIPE_DATA:-../shared}/videos/highway-720p.mp4
FRAMES=${GPU_FRAMES:-450}
nvidia-smi --query-gpu=name,driver_version,encoder.stats.sessionCount --format=csv,noheader || true
nvidia-smi -q | grep -i -A3 "encoder" | head -12 || true
nproc
T0=$(date +%s)
echo "== GPU tests: NVENC, NVDEC ($(($(date +%s) - T0)) s)"
TRAFFICPIPE_GPU_REPORT="$OUT/gpu-tests.jsonl" timeout 60 python3 -m pytest tests/gpu/test_nvenc.py -q -rs -p no:cacheprovider 2>&1 | tail -4
echo "== encode-only ceilings ($(($(date +%s) - T0)) s)"
timeout 90 python3 bench/encode_probe.py "$VIDEO" --frames 300 --json "$OUT/encode.json" 2>&1 | tail -40
echo "== decode-only NVDEC ($(($(date +%s) - T0)) s)"
timeout 150 python3 bench/nvdec_probe.py "$VIDEO" --repeat 1 --json "$OUT/nvdec.json" > /dev/null 2>&1; echo "nvdec probe exit $?"
echo "== annotated-video pipeline ($(($(date +%s) - T0)) s)"
timeout 150 python3 -m trafficpipe bench "$VIDEO" --model yolox-nano --engine torch --precision fp16 --batch 4 \
  --preprocess-workers 1 --postprocess-workers 1 --frames "$FRAMES" --repeat 2 --output video \
  --json "$OUT/bench-video.json" 2>&1 | grep -v "^\S* INFO"
echo "== live capacity ($(($(date +%s) - T0)) s)"
timeout 200 python3 -m trafficpipe bench "$VIDEO" --model yolox-nano --engine torch --precision fp16 --batch 4 \
  --preprocess-workers 2 --postprocess-workers 2 --decode-threads 2 --output jsonl --live "${GPU_LIVE:-8,16,32,64}" \
  --live-seconds "${GPU_LIVE_SECONDS:-8}" --json "$OUT/live.json" 2>&1 | grep -v "INFO.*source camera"
echo "== done in $(($(date +%s) - T0)) s"
