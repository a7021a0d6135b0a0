#!/usr/bin/env bash
# Writes the HTML report of the built-in scenarios and a screenshot of it taken in headless
# Chromium: OUT/index.html and OUT/report.png (default OUT: target/report).
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-target/report}"
mkdir -p "$out"
# The report is written whether or not every scenario passes; the screenshot shows either.
cargo run --locked -q -p cli -- report "$out" scenarios >/dev/null || status=$?
if [ "${status:-0}" -gt 1 ]; then
    echo "ci/report-screenshot.sh: kmlab report failed (exit $status)" >&2
    exit "$status"
fi
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --hide-scrollbars --window-size=1400,2400 \
    --screenshot="$out/report.png" "file://$(realpath "$out")/index.html" 2>/dev/null
echo "ci/report-screenshot.sh: $out/report.png"
