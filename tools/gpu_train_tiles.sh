#!/usr/bin/env bash
# On a GPU host: several `trafficpipe train` variants side by side on the one GPU (tile crops, class boosts,
# learning rates), then every best checkpoint exported at a few base-weight blends and scored on the carried dev copy
# with tiled inference (ONNX Runtime on the host's cores), all under $OUT:
#   best-<run>.pt, train.log, scores.jsonl (tools/score_models.py lines, the shipped model's among them).
# Staging (here): python tools/prepare_train_carry.py --out <folder>/.train-carry --train-side 1280 --format webp \
#   --train-quality 75 --val-quality 70 --val-wide-ratio 2
# Env: BUDGET_S (training seconds, default 270), RUNS ("name:lr:tile_crop:boost[:copy_paste[:drawn_lights]] ..."),
# BLENDS ("1 0.7 0.5").
set -uo pipefail
OUT=${OUT:-/tmp/trafficpipe-train-out}
BUDGET_S=${BUDGET_S:-270}
RUNS=${RUNS:-"t3-3e-4:3e-4:0.3:pedestrian=2,traffic_light=2"}
BLENDS=${BLENDS:-"1 0.7 0.5"}
D=.train-carry
mkdir -p "$OUT" /tmp/runs /tmp/evals
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$D"/wheels/*.whl || exit 1
export PYTHONPATH=/tmp/site
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1 TRAFFICPIPE_CACHE=/tmp/tpcache OMP_NUM_THREADS=3
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
pids=()
for spec in $RUNS; do
  IFS=: read -r name lr tile boost paste drawn <<<"$spec"
  timeout $((BUDGET_S + 60)) python3 -m trafficpipe train "$D/data/traffic-train" --val "$D/data/traffic-dev" \
    --base "$D/models/picodet_s_416_coco.onnx" --device cuda --epochs 40 --batch 32 --workers 3 --lr "$lr" \
    --tile-crop "$tile" ${boost:+--boost "$boost"} ${paste:+--copy-paste "$paste"} ${drawn:+--drawn-lights "$drawn"} --time-budget "$(python3 -c "print($BUDGET_S / 60.0)")" \
    --out "/tmp/runs/$name" --name "$name" --no-progress >"/tmp/runs/$name.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
for f in /tmp/runs/*.log; do echo "=== $f"; grep -v -i warn "$f"; done >"$OUT/train.log"
grep -E "===|best|rror|budget" "$OUT/train.log" | cut -c1-300 | tail -40
jobs=()
( timeout 150 python3 tools/score_models.py "$D/data/traffic-dev" /tmp/evals/reference.jsonl \
    trafficpipe/models/weights/trafficpipe_picodet_s_416.onnx --threads 1 >/dev/null 2>/tmp/evals/reference.err ) &
jobs+=($!)
for d in /tmp/runs/*/; do
  name=$(basename "$d")
  [ -f "$d/best.pt" ] || continue
  cp "$d/best.pt" "$OUT/best-$name.pt"
  for b in $BLENDS; do
    ( timeout 100 python3 -m trafficpipe export "$d/best.pt" --base "$D/models/picodet_s_416_coco.onnx" --blend "$b" \
        --out "/tmp/evals/$name-$b.onnx" >/dev/null 2>&1 &&
      timeout 150 python3 tools/score_models.py "$D/data/traffic-dev" "/tmp/evals/$name-$b.jsonl" \
        "/tmp/evals/$name-$b.onnx" --threads 1 >/dev/null 2>"/tmp/evals/$name-$b.err" ) &
    jobs+=($!)
  done
done
for p in "${jobs[@]}"; do wait "$p"; done
cat /tmp/evals/*.jsonl >"$OUT/scores.jsonl"
python3 - "$OUT/scores.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    rs = r.get("road_sign") or {}
    print("%-28s %s | sign R %.3f P %.3f" % (r["model"], " ".join("%s %.3f" % (k[:5], v) for k, v in r["ap50"].items()
          if v is not None), rs.get("recall", 0), rs.get("precision", 0)))
PY
tail -n 3 /tmp/evals/*.err | grep -i -B1 "error\|trace" | head -20
ls -la "$OUT"
