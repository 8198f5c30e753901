#!/usr/bin/env bash
# Render REPORT_DIR/leaderboard.html (from `l2s-bench report`) with headless Chromium into
# REPORT_DIR/leaderboard.png, to eyeball a report or attach it to a PR.
#   scripts/screenshot.sh reports/latest
# Needs Debian's `chromium` (apt-get install -y chromium). A throwaway profile and no background
# networking, so it runs offline, as root, and leaves nothing behind.
set -euo pipefail

dir="${1:?usage: scripts/screenshot.sh REPORT_DIR}"
[[ -f "$dir/leaderboard.html" ]] || { echo "no $dir/leaderboard.html (run: l2s-bench report RUN --out $dir)" >&2; exit 2; }
page="$(cd "$dir" && pwd)/leaderboard.html"
browser="$(command -v chromium || command -v chromium-browser || true)"
[[ -n "$browser" ]] || { echo "chromium not found (apt-get install -y chromium)" >&2; exit 2; }

profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
out="$(dirname "$page")/leaderboard.png"
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
  --user-data-dir="$profile" --window-size=1400,1800 --screenshot="$out" "file://$page" 2>/dev/null
[[ -s "$out" ]] || { echo "chromium wrote no screenshot" >&2; exit 1; }
echo "wrote $out"
