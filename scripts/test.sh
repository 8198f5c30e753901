#!/usr/bin/env bash
# The README's test command: set-up included, offline, then pytest (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
exec "${L2S_VENV:-.venv}/bin/python" -m pytest "$@"
