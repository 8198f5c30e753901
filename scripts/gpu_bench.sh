#!/usr/bin/env bash
# One prepared run for a CUDA machine, about 8 minutes at most: the public-shape speed sweep (eager at
# batch 1 and 16, compiled at batch 1) and the smoke suite. Every step runs under `timeout`; a failed
# step is reported and the next one still runs. The machine brings its own torch/transformers and has
# no network, so the package is installed without dependencies (and without build isolation).
#   bash scripts/gpu_bench.sh            # PYTHON=... to pick the interpreter
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
PAIRS=${PAIRS:-t5-large:t5-small,flan-t5-xl:gpt2}
DEVICE=${DEVICE:-cuda} DTYPE=${DTYPE:-bfloat16}  # cpu + float32 with tiny PAIRS: a dry run of this script
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

step() {  # step SECONDS NAME COMMAND...
  local limit=$1 name=$2; shift 2
  echo "== $name (limit ${limit}s)"
  timeout --kill-after=10 "$limit" "$@"
  local rc=$?
  [ $rc -eq 0 ] || echo "!! $name failed (exit $rc); continuing"
}

# The speed command alone: another command's optional dependency (rouge-score, lm-eval) cannot stop it.
SPEED=($PY -c 'import sys, bench.cli as c; c.COMMAND_MODULES = ("bench.speed.sweep",); sys.exit(c.main(sys.argv[1:]))'
       speed --device "$DEVICE" --dtype "$DTYPE" --pairs "$PAIRS" --prompt-tokens 128 --new-tokens 64
       --samples 3 --min-runs 3 --min-seconds 0)

step 45 "install" $PY -m pip install --no-deps --no-build-isolation -q -e .
SLUG=$($PY -c 'import re, torch; print(re.sub("[^a-z0-9]+", "-", torch.cuda.get_device_name().lower()).strip("-"))' \
  2>/dev/null || echo unknown-gpu)
OUT=results/gpu/$SLUG-$(date +%F)
mkdir -p "$OUT"
$PY -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda,
"transformers", transformers.__version__, "gpu", torch.cuda.get_device_name())' || true
nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader 2>/dev/null | sed 's/^/other GPU process: /'

step 120 "speed eager (batch 1, 16)" "${SPEED[@]}" --backends eager --batch-sizes 1,16 --out "$OUT/speed-eager.json"
step 210 "speed compiled (batch 1)" "${SPEED[@]}" --backends compiled --batch-sizes 1 --out "$OUT/speed-compiled.json"
# One file for both backends (rows of whichever steps finished; provenance of the first).
$PY - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
from bench.results import write_json
out = Path(sys.argv[1])
parts = [json.loads(p.read_text()) for p in (out / "speed-eager.json", out / "speed-compiled.json") if p.exists()]
if parts:
    merged = {**parts[0], "rows": [r for p in parts for r in p["rows"]]}
    merged["provenance"]["backends"] = {k: v for p in parts for k, v in p["provenance"]["backends"].items()}
    print("wrote", write_json(merged, out / "speed.json"))
EOF

step 80 "smoke suite" $PY -m bench.cli run smoke --device cuda --run-id "smoke-$SLUG" --results-dir "$OUT"
echo "results in $OUT:"
ls -la "$OUT"
