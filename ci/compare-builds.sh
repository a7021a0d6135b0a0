#!/usr/bin/env bash
# Shows that a change keeps kmlab's results: builds REV (default: main's merge base) and the
# working tree, runs both over the built-in scenarios in every mode CI uses (plain,
# --cross-check, --engine openssl --cross-check, --seat '*=openssl-cli', and a kmlab matrix),
# and compares each mode's JSON results scenario by scenario and every artifact byte for byte
# (ci/compare_artifacts.py; messages a seated implementation or OpenSSL built are left out, as
# their bytes are not reproducible). Usage: ci/compare-builds.sh [REV]
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-$(git merge-base HEAD main)}
work=$(mktemp -d)
trap 'git worktree remove --force "$work/src" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --detach "$work/src" "$rev" >/dev/null
export KMLAB_KEY_CACHE="${KMLAB_KEY_CACHE:-$PWD/target/kmlab-keys}"
(cd "$work/src" && CARGO_TARGET_DIR="$PWD/../target" cargo build --release -q -p cli)
cargo build --release -q -p cli
modes() {
    local bin=$1 out=$2
    mkdir -p "$out"
    "$bin" run --jobs 2 --format json --artifacts "$out/plain" --export-keys scenarios >"$out/plain.json" || true
    "$bin" run --jobs 2 --format json --cross-check --artifacts "$out/cross" --export-keys scenarios >"$out/cross.json" || true
    "$bin" run --jobs 2 --format json --engine openssl --cross-check --artifacts "$out/openssl" scenarios >"$out/openssl.json" || true
    "$bin" run --jobs 2 --format json --seat '*=openssl-cli' --artifacts "$out/seat" --export-keys scenarios >"$out/seat.json" || true
    "$bin" matrix scenarios/km/v3-rollout.toml --vary ca.ExchCA.validity_units=1,2 \
        --vary km.KM1.mode=v1-and-v3,v3-only --format json >"$out/matrix.json" || true
}
(cd "$work/src" && modes "$work/target/release/kmlab" "$work/before")
modes "$PWD/target/release/kmlab" "$work/after"
python3 ci/compare_artifacts.py "$work/before" "$work/after"
