#!/usr/bin/env bash
# GPU suite and benchmark of the torch engine, for a CUDA host with torch.
#
# Here, from the repo root:   bash ../shared/gpu/prepare-carry.sh onnxslim==0.1.98
#                             bash bench/stage-nvdec.sh   (optional: PyNvVideoCodec, for --decoder nvdec and its tests)
# Device call:                run  command="bash bench/gpu.sh"  carry=[".gpu-carry"]
# It installs the carried wheels (pycuda, onnx2torch, onnxslim, loguru...) into /tmp/site, runs tests/gpu, a sweep of
# pipeline settings (bench/gpu_sweep.py) and `trafficpipe bench` for PicoDet-S 416 and YOLOX-nano on highway-720p.mp4
# with the best setting found, jsonl and video output. Everything lands in $OUT (default ./gpu-out): gpu.log,
# gpu-tests.jsonl (measured figures), sweep.json, bench-<model>-<output>.json.
# Environment: GPU_PYTEST_K (pytest -k expression), GPU_TEST_TIMEOUT (300 s), GPU_STEPS="tests sweep bench" (steps, in this order; also "streams", "processes", "contention"), GPU_OUTPUTS ("jsonl video"), GPU_MODELS (bench step: "picodet-s-416 yolox-nano"), GPU_PRECISION (fp16), GPU_REPEAT (3), GPU_FRAMES (450), GPU_BENCH_ARGS (extra bench options, also for streams and processes, e.g. "--decoder nvdec"), GPU_SWEEP_ARGS (extra sweep options), GPU_STREAMS_VIDEOS (videos for streams and processes, default the 720p clip), GPU_STREAMS_ARGS (their extra options instead of GPU_BENCH_ARGS).
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
LOG="$OUT/gpu.log"
exec > >(tee -a "$LOG") 2>&1
STEPS=${GPU_STEPS:-"tests sweep bench"}
OUTPUTS=${GPU_OUTPUTS:-"jsonl video"}
PRECISION=${GPU_PRECISION:-fp16}
REPEAT=${GPU_REPEAT:-3}
FRAMES=${GPU_FRAMES:-450}
CARRY=$PWD/.gpu-carry
export PYTHONUNBUFFERED=1
if [ -d "$CARRY/wheels" ]; then
  python3 -m pip install -q --no-index --no-deps --upgrade --target /tmp/site "$CARRY"/wheels/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
  export TRAFFICPIPE_DATA=${TRAFFICPIPE_DATA:-$CARRY}
  [ -d "$CARRY/cache" ] && export TRAFFICPIPE_CACHE=${TRAFFICPIPE_CACHE:-$CARRY/cache}
else
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
# PyNvVideoCodec (NVDEC), unpacked from its wheel into .gpu-carry/nvdec by bench/stage-nvdec.sh
[ -d "$CARRY/nvdec/PyNvVideoCodec" ] && export PYTHONPATH=$CARRY/nvdec:$PYTHONPATH
VIDEO=${TRAFFICPIPE_DATA:-../shared}/videos/highway-720p.mp4
STREAMS_VIDEOS=${GPU_STREAMS_VIDEOS:-$VIDEO}
STREAMS_ARGS=${GPU_STREAMS_ARGS:-${GPU_BENCH_ARGS:-}}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader || true
nproc
python3 -c 'import sys, torch, pycuda, onnx2torch, cv2; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "pycuda", pycuda.VERSION_TEXT, "opencv", cv2.__version__)'
T0=$(date +%s)

run_tests() {
  echo "== GPU tests ($(($(date +%s) - T0)) s)"
  TRAFFICPIPE_GPU_REPORT="$OUT/gpu-tests.jsonl" timeout ${GPU_TEST_TIMEOUT:-300} python3 -m pytest tests/gpu -q -rs -p no:cacheprovider \
    --durations=8 ${GPU_PYTEST_K:+-k "$GPU_PYTEST_K"} 2>&1 | grep -v "^GPU-FIGURES"
  echo "tests exit: ${PIPESTATUS[0]}"
}

run_sweep() {
  echo "== sweep ($(($(date +%s) - T0)) s)"
  timeout 200 python3 bench/gpu_sweep.py "$VIDEO" --precision "$PRECISION" --frames "$FRAMES" --json "$OUT/sweep.json" \
    ${GPU_SWEEP_ARGS:-}
  echo "sweep exit: $?"
}

run_bench() {
  for model in ${GPU_MODELS:-picodet-s-416 yolox-nano}; do
    # best setting from the sweep (batch, preprocess and postprocess workers), else the H200 sweep's: batch 4, 1 / 1
    read -r B PRE POST DEC DTH < <(python3 - "$OUT/sweep.json" "$model" <<'EOF'
import json, sys
try:
    b = json.load(open(sys.argv[1]))["best"][sys.argv[2]]
    print(b["batch"], b["preprocess_workers"], b["postprocess_workers"], b.get("decode_workers", 1),
          b.get("decode_threads", 0))
except Exception:
    print(4, 1, 1, 1, 0)
EOF
)
    for output in $OUTPUTS; do
      echo "== bench $model $output batch $B pre $PRE post $POST decode $DEC x $DTH threads ($(($(date +%s) - T0)) s)"
      timeout 150 python3 -m trafficpipe bench "$VIDEO" --model "$model" --engine torch --precision "$PRECISION" \
        --batch "$B" --preprocess-workers "$PRE" --postprocess-workers "$POST" --decode-workers "$DEC" --decode-threads "$DTH" \
        --frames "$FRAMES" --repeat "$REPEAT" --output "$output" --json "$OUT/bench-$model-$output.json" \
        ${GPU_BENCH_ARGS:-} 2>&1 | grep -v "^\S* INFO"
      echo "bench exit: ${PIPESTATUS[0]}"
    done
  done
}

run_processes() {
  # the same with one process per source (each its own detector and GIL), started together
  for v in $STREAMS_VIDEOS; do
    name=$(basename "$v" .mp4)
    echo "== streams in processes yolox-nano $name $STREAMS_ARGS ($(($(date +%s) - T0)) s)"
    timeout 200 python3 -m trafficpipe bench "$v" --model yolox-nano --engine torch --precision "$PRECISION" \
      --batch 4 --preprocess-workers 1 --postprocess-workers 1 --frames "$FRAMES" --repeat 1 \
      --output jsonl --streams 1,2,4 --stream-processes --json "$OUT/bench-yolox-nano-streams-processes-$name.json" \
      $STREAMS_ARGS 2>&1 | grep -v "^\S* INFO"
    echo "processes exit: ${PIPESTATUS[0]}"
  done
}

run_streams() {
  # aggregate fps of 1, 2 and 4 copies of the clip, one context per source, device I/O on
  for v in $STREAMS_VIDEOS; do
    name=$(basename "$v" .mp4)
    echo "== streams yolox-nano $name $STREAMS_ARGS ($(($(date +%s) - T0)) s)"
    timeout 200 python3 -m trafficpipe bench "$v" --model yolox-nano --engine torch --precision "$PRECISION" \
      --batch 4 --contexts 4 --preprocess-workers 2 --postprocess-workers 2 --frames "$FRAMES" --repeat 1 \
      --output jsonl --streams 1,2,4 --json "$OUT/bench-yolox-nano-streams-$name.json" $STREAMS_ARGS 2>&1 \
      | grep -v "^\S* INFO"
    echo "streams exit: ${PIPESTATUS[0]}"
  done
}

run_contention() {
  # does decoding (NVDEC or OpenCV) slow inference down when both run at once?
  echo "== decode/inference contention ($(($(date +%s) - T0)) s)"
  timeout 150 python3 bench/nvdec_contention.py "$VIDEO" --json "$OUT/nvdec-contention.json" 2>&1 | grep -v "^\S* INFO"
  echo "contention exit: ${PIPESTATUS[0]}"
}

for s in $STEPS; do "run_$s"; done
echo "== done in $(($(date +%s) - T0)) s"
