#!/usr/bin/env bash
# The README's main job on the embedded default: set-up, offline data, train L2S and its SLM baseline
# (same data, steps and settings), then evaluate the LLM, the SLM, L2S and the trivial baseline on
# the task's held-out test books.
# Rerunning reuses finished work: the data cache, the converted model, features and finished runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
bench="${L2S_VENV:-.venv}/bin/l2s-bench"
"$bench" data prepare kjv-web
"$bench" train configs/kjv-web/l2s.yaml --resume
"$bench" train configs/kjv-web/slm.yaml --resume
# Quality on the held-out books, every system on the same verses, with CIs and paired p-values:
"$bench" evaluate kjv-web --out runs/kjv-web/evaluate.json \
  --system llm=hf-causal:source=smollm2-135m-instruct \
  --system slm=llm2slm:checkpoint=runs/kjv-web/slm/final \
  --system l2s=llm2slm:checkpoint=runs/kjv-web/l2s/final
