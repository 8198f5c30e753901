#!/usr/bin/env bash
# The README's main job on the embedded default: set-up, offline data, train L2S and its SLM baseline
# (same data, steps and settings), then sample generations from the LLM, the SLM and L2S.
# Rerunning reuses finished work: the data cache, the converted model, features and finished runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
bench="${L2S_VENV:-.venv}/bin/l2s-bench"
"$bench" data prepare kjv-web
"$bench" train configs/kjv-web/l2s.yaml --resume
"$bench" train configs/kjv-web/slm.yaml --resume
# Jonah 1:1-2, from a book held out of training:
verse="Rewrite this King James Bible verse in modern English:
Now the word of the LORD came unto Jonah the son of Amittai, saying, Arise, go to Nineveh, that great city, and cry against it."
"$bench" generate --model hf-causal --model-args source=smollm2-135m-instruct,chat=true "$verse"
"$bench" generate --model llm2slm --model-args checkpoint=runs/kjv-web/slm/final "$verse"
"$bench" generate --model llm2slm --model-args checkpoint=runs/kjv-web/l2s/final "$verse"
