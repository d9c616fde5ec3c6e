#!/usr/bin/env bash
# Several `trafficpipe train` runs at once on one GPU host, each with its own learning rate.
#
# Here, from the repo root: stage .gpu-carry-train/ (ignored by git) with
#   wheels/  loguru, onnx2torch, onnxslim, typing_extensions (pure-Python wheels for the GPU machine's Python)
#   models/  the base ONNX files
#   data/traffic-train, data/traffic-dev   the shared sets with their images re-encoded as WebP (to keep the copy
#            small; annotations.json names the .webp files)
# Then, on the GPU host, in a copy of the repo holding .gpu-carry-train/: bash bench/gpu-train.sh
# Environment: TRAIN_BASE (yolox_nano_416.onnx), TRAIN_LRS ("3e-4 1e-3 6e-4"), TRAIN_MINUTES (7.5), TRAIN_EPOCHS (30),
# TRAIN_ARGS (extra options). Each run's log and best checkpoint land in $OUT: train-<lr>.log, best-<lr>.pt.
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
CARRY=$PWD/.gpu-carry-train
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --upgrade --target /tmp/site "$CARRY"/wheels/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 TRAFFICPIPE_DATA=$CARRY
BASE=${TRAIN_BASE:-yolox_nano_416.onnx}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
pids=()
for lr in ${TRAIN_LRS:-3e-4 1e-3 6e-4}; do
  python3 -m trafficpipe train "$CARRY/data/traffic-train" --base "$CARRY/models/$BASE" --val "$CARRY/data/traffic-dev" \
    --epochs "${TRAIN_EPOCHS:-30}" --lr "$lr" --workers 4 --device cuda --time-budget "${TRAIN_MINUTES:-7.5}" \
    --no-progress --out "/tmp/runs/$lr" ${TRAIN_ARGS:-} > "$OUT/train-$lr.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
for lr in ${TRAIN_LRS:-3e-4 1e-3 6e-4}; do
  [ -f "/tmp/runs/$lr/best.pt" ] && cp "/tmp/runs/$lr/best.pt" "$OUT/best-$lr.pt"
  grep -E "epoch|best|error" "$OUT/train-$lr.log" | tail -3
done
ls -la /tmp/runs/* "$OUT"
