#!/usr/bin/env bash
# On a GPU host: a smoke run of the `trafficpipe train` command line on the GPU (two short runs into one
# --out: the second goes to its "2" folder; a GPU index the machine lacks; a bad --set value; export replacing a model).
# Staging (here): python tools/prepare_train_carry.py --train-side 640 --format webp --train-quality 60 --val-quality 60;
# then on the GPU host, in a copy of the repo holding .train-carry/: bash tools/gpu_train_smoke.sh | tee $OUT/smoke.log
set -u
D=.train-carry
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$D"/wheels/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 TRAFFICPIPE_CACHE=/tmp/tpcache
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
nproc
T="python3 -m trafficpipe train $D/data/traffic-train --val $D/data/traffic-dev --base $D/models/picodet_s_416_coco.onnx --no-progress"
for i in 1 2; do
  echo "== run $i"; /usr/bin/time -f "%e s" timeout 240 $T --device cuda --epochs 2 --max-images 320 --val-limit 96 --out /tmp/runs/r 2>&1 | grep -v -i "warn" | grep -E "holds an earlier|best epoch|model |error|epoch|[0-9] s$" | cut -c1-200
done
ls /tmp/runs /tmp/runs/r /tmp/runs/r2
echo "== bad device"; timeout 120 $T --device cuda:3 --epochs 1 --out /tmp/runs/bad 2>&1 | tail -1; echo "rc=${PIPESTATUS[0]}"
echo "== set"; timeout 120 $T --set lr=-1 2>&1 | tail -1
echo "== export"; timeout 120 python3 -m trafficpipe export /tmp/runs/r2/best.pt --base $D/models/picodet_s_416_coco.onnx --blend 0.7 --out /tmp/runs/m.onnx 2>&1 | tail -1
timeout 120 python3 -m trafficpipe export /tmp/runs/r2/best.pt --base $D/models/picodet_s_416_coco.onnx --blend 0.7 --out /tmp/runs/m.onnx 2>&1 | grep -E "replacing|wrote"
cp /tmp/runs/r2/history.json /tmp/runs/r2/summary.json "$OUT"/ 2>/dev/null
