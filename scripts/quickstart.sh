#!/usr/bin/env bash
# The README's main job on the embedded default: set-up, then one run of the `default` suite (offline
# data prepared on first use; SLM and L2S trained per task where missing; quality and speed of the LLM,
# SLM, L2S, speculative decoding and the trivial baseline), then the leaderboard report.
# Rerunning continues the same run: finished trainings, samples and speed passes are reused.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
bench="${L2S_VENV:-.venv}/bin/l2s-bench"
"$bench" run default --resume
"$bench" report results/default-cpu --out reports/default-cpu
