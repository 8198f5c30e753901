#!/usr/bin/env bash
# Data-parallel scaling on this machine, nothing else running: one process (all cores as threads) against
# 2 ranks (torchrun, gloo, cores split). The quality pass of `default` on kjv-web (LLM + L2S, 64 items,
# batches of 16; predictions must be identical) and L2S training tokens/s (kjv-web, 16 steps of 16).
#   bash scripts/dp_scaling.sh [OUT]      # -> OUT/summary.txt (default OUT: /tmp/l2s-dp-scaling)
set -euo pipefail
cd "$(dirname "$0")/.."
source "${L2S_VENV:-.venv}/bin/activate"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
R=${1:-/tmp/l2s-dp-scaling}; rm -rf "$R"; mkdir -p "$R"
for p in 1 2; do
  start=$(date +%s.%N)
  l2s-bench run default --tasks kjv-web --systems llm,l2s --no-speed --limit 64 --processes $p \
    --results-dir "$R" --run-id q$p > "$R/q$p.log" 2>&1
  python - "$R" $p "$start" <<'PY' | tee -a "$R/summary.txt"
import json, sys, time
r, p, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
run = json.load(open(f"{r}/q{p}/results.json"))
print(f"quality p={p} command {time.time() - start:.1f} s, runner {run['sittings'][-1]['wall_seconds']} s")
PY
done
python - "$R" <<'PY' | tee -a "$R/summary.txt"
import json, sys
q = lambda run: {(e["task"], e["system"]): e["quality"] for e in json.load(open(f"{sys.argv[1]}/{run}/results.json"))["results"]}
print("identical quality:", q("q1") == q("q2"))
PY
for p in 1 2; do
  set_json="{\"train\": {\"steps\": 16, \"save_every\": 1000}, \"out\": \"$R/t$p\"}"
  if [ $p = 1 ]; then
    l2s-bench train configs/kjv-web.yaml --role l2s --samples 0 --set "$set_json" > "$R/t$p.log" 2>&1
  else
    python -m torch.distributed.run --standalone --nproc-per-node 2 -m l2s_bench.cli train configs/kjv-web.yaml \
      --role l2s --samples 0 --set "$set_json" > "$R/t$p.log" 2>&1
  fi
  python -c "import json; print('train p=$p', json.load(open('$R/t$p/final/l2s.json'))['trainer']['train'])" \
    | tee -a "$R/summary.txt"
done
