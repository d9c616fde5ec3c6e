#!/usr/bin/env bash
# On a GPU host, in a copy of the repo holding .train-carry/ (staged by tools/prepare_train_carry.py): trains several
# variants (learning rate, partial-label policy) side by side on the one GPU, each fitted into BUDGET_S seconds and
# validated after every epoch on the carried dev copy, and returns under $OUT:
#   best-<run>.pt of every run, summaries.json (ranking by validation score + each run's summary), train.log.
# Env: BUDGET_S (default 280), DEVICE (default cuda), EPOCHS (default 80), WORKERS (default 2), MAX_IMAGES/VAL_LIMIT
# (rehearsals), RUNS ("name:optimizer:lr:partial ...").
set -uo pipefail
OUT=${OUT:-/tmp/trafficpipe-train-out}
BUDGET_S=${BUDGET_S:-280}
DEVICE=${DEVICE:-cuda}
EPOCHS=${EPOCHS:-80}
WORKERS=${WORKERS:-2}
RUNS=${RUNS:-"distill-1e-3:adamw:1e-3:distill distill-3e-4:adamw:3e-4:distill mask-1e-3:adamw:1e-3:mask mask-3e-4:adamw:3e-4:mask"}
D=.train-carry
mkdir -p "$OUT" /tmp/runs
if [ -d "$D/wheels" ] && ! python3 -c "import onnx2torch, loguru" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$D"/wheels/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1 TRAFFICPIPE_CACHE=/tmp/tpcache OMP_NUM_THREADS=4
[ "$DEVICE" = cuda ] && nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
python3 -c "import torch, cv2, onnx; from trafficpipe.training.deps import import_onnx2torch; import_onnx2torch(); print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
extra=()
[ -n "${MAX_IMAGES:-}" ] && extra+=(--max-images "$MAX_IMAGES")
[ -n "${VAL_LIMIT:-}" ] && extra+=(--val-limit "$VAL_LIMIT")
pids=()
for spec in $RUNS; do
  IFS=: read -r name opt lr partial <<<"$spec"
  timeout $((BUDGET_S + 45)) python3 -m trafficpipe train "$D/data/traffic-train" --val "$D/data/traffic-dev" \
    --base "$D/models/picodet_s_416_coco.onnx" --device "$DEVICE" --epochs "$EPOCHS" --batch 32 --workers "$WORKERS" \
    --optimizer "$opt" --lr "$lr" --partial "${partial:-mask}" --time-budget "$(python3 -c "print($BUDGET_S / 60.0)")" \
    --out "/tmp/runs/$name" --name "$name" --no-progress "${extra[@]}" >"/tmp/runs/$name.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
for f in /tmp/runs/*.log; do echo "=== $f"; grep -v -i warn "$f"; done >"$OUT/train.log"
grep -E "===|epoch [0-9]+/|best|rror|Trace|budget" "$OUT/train.log" | cut -c1-330 | tail -120
python3 - "$OUT" <<'PY'
import glob, json, os, shutil, sys
import torch
out = sys.argv[1]
runs, summaries = [], {}
for d in sorted(glob.glob("/tmp/runs/*/")):
    name = os.path.basename(os.path.normpath(d))
    s = os.path.join(d, "summary.json")
    ck = os.path.join(d, "best.pt")
    if os.path.isfile(s):
        summaries[name] = json.load(open(s))
        runs.append((summaries[name]["best"]["score"], name))
    elif os.path.isfile(ck):  # cut short: the checkpoint is still good
        c = torch.load(ck, map_location="cpu", weights_only=False)
        summaries[name] = {"cut_short": True, "best": {"epoch": c.get("epoch"), "val": c.get("val")}}
        runs.append(((c.get("val") or {}).get("score", -1.0), name))
    if os.path.isfile(ck):
        shutil.copy(ck, os.path.join(out, "best-%s.pt" % name))
runs.sort(reverse=True)
with open(os.path.join(out, "summaries.json"), "w") as f:
    json.dump({"ranking": runs, "runs": summaries}, f, indent=1, default=float)
print("runs by validation score:", [(round(s, 4), n) for s, n in runs])
PY
ls -la "$OUT"
