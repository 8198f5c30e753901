#!/usr/bin/env bash
# One prepared run for a CUDA machine, about 9 minutes at most: the public-shape speed sweep (eager at batch 1
# and 16, compiled at batch 1; random weights, forced output length), the depth-or-width decode costs, and
# the tiny suite end to end on the GPU (tests/runner/test_cuda.py). Every step runs under `timeout`; a failed step
# is reported and the next one still runs. The machine brings its own torch/transformers and has no network:
# nothing is installed but the wheels in .whl/ (if any: pure-Python dependencies it lacks), and the package
# runs from this folder (PYTHONPATH).
#   bash scripts/gpu_bench.sh                      # writes into $OUT, else results/gpu/<gpu>-<date>/
#   DEVICE=cpu DTYPE=float32 EAGER_PAIRS=tiny-llama:tiny-llama COMPILED_PAIRS= bash scripts/gpu_bench.sh  # a dry run
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
EAGER_PAIRS=${EAGER_PAIRS-smollm2-135m:smollm2-135m-4l,t5-large:t5-small}
COMPILED_PAIRS=${COMPILED_PAIRS-smollm2-135m:smollm2-135m-4l t5-large:t5-small}  # one step each, most wanted first
DEVICE=${DEVICE:-cuda} DTYPE=${DTYPE:-bfloat16}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1

step() {  # step SECONDS NAME COMMAND...
  local limit=$1 name=$2; shift 2
  echo "== $name (limit ${limit}s) $(date -u +%T)"
  timeout --kill-after=10 "$limit" "$@"
  local rc=$?
  [ $rc -eq 0 ] || echo "!! $name failed (exit $rc); continuing"
}

if compgen -G ".whl/*.whl" >/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/l2s-site .whl/*.whl \
    || echo "!! wheels did not install"
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}:/tmp/l2s-site
SLUG=$($PY -c 'import re, torch; print(re.sub("[^a-z0-9]+", "-", torch.cuda.get_device_name().lower()).strip("-"))' \
  2>/dev/null || echo "$DEVICE")
DEST=${OUT:-results/gpu/$SLUG-$(date +%F)}
mkdir -p "$DEST"
$PY -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda,
"transformers", transformers.__version__, "device", torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu")'
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.used --format=csv 2>/dev/null
nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader 2>/dev/null | sed 's/^/other GPU process: /'

# The speed command alone: another command's optional dependency (rouge-score, lm-eval) cannot stop it.
SPEED=($PY -c 'import sys, l2s_bench.cli as c; c.COMMAND_MODULES = ("l2s_bench.speed.sweep",); sys.exit(c.main(sys.argv[1:]))'
       speed --device "$DEVICE" --dtype "$DTYPE" --prompt-tokens 128 --new-tokens 64
       --samples 3 --min-runs 3 --min-seconds 0)
step 150 "speed eager (batch 1, 16)" "${SPEED[@]}" --pairs "$EAGER_PAIRS" --backends eager --batch-sizes 1,16 \
  --out "$DEST/speed-eager.json"
compiled() {  # compiled PAIR: one pair's compiled sweep in its own file, so a timeout loses that pair alone
  step "$2" "speed compiled (batch 1) $1" "${SPEED[@]}" --pairs "$1" --backends compiled --batch-sizes 1 \
    --out "$DEST/speed-compiled-${1%%:*}.json"
}
PAIRS_LEFT=($COMPILED_PAIRS)
[ ${#PAIRS_LEFT[@]} -gt 0 ] && compiled "${PAIRS_LEFT[0]}" 100
step 45 "depth-or-width decode costs ($DTYPE)" bash -c "$PY scripts/prune_costs.py --device $DEVICE --dtype $DTYPE \
  --new-tokens 32 --runs 5 > $DEST/prune-costs.jsonl"
step 120 "tiny suite end to end on the GPU" $PY -m pytest -q -p no:cacheprovider tests/runner/test_cuda.py -rs
for pair in "${PAIRS_LEFT[@]:1}"; do compiled "$pair" 90; done
# One file for every backend (rows of whichever steps finished; provenance of the first).
$PY - "$DEST" <<'EOF'
import json, sys
from pathlib import Path
from l2s_bench.runner.results import write_json
out = Path(sys.argv[1])
parts = [json.loads(p.read_text()) for p in sorted(out.glob("speed-*.json"), key=lambda p: "eager" not in p.name)]
if parts:
    merged = {**parts[0], "rows": [r for p in parts for r in p["rows"]]}
    merged["provenance"]["backends"] = {k: v for p in parts for k, v in p["provenance"]["backends"].items()}
    print("wrote", write_json(merged, out / "speed.json"))
EOF
echo "results in $DEST:"
ls -la "$DEST"
