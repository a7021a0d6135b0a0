#!/usr/bin/env bash
# The project's test command: installs what the machine lacks (ci/install-deps.sh, which
# does nothing when everything is there), lints, then every test with CI=true (a missing or
# changed snapshot fails), then the kmlab binary over the built-in scenarios.
set -euo pipefail
cd "$(dirname "$0")/.."

ci/install-deps.sh

export CI=true
export KMLAB_KEY_CACHE="${KMLAB_KEY_CACHE:-$PWD/target/kmlab-keys}"

ci/lint.sh

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi

# The main job as a user runs it: every built-in scenario, snapshots compared; then with every
# reader also judging each message with OpenSSL (any disagreement not in
# harness/smime/known-deviations.toml fails); then with OpenSSL building, which must give the same
# transcripts.
cargo run --locked -q -p cli -- run scenarios
cargo run --locked -q -p cli -- run --cross-check scenarios
cargo run --locked -q -p cli -- run --engine openssl --cross-check scenarios
# OpenSSL's command line in every user's seat over the whole suite: every step is compared
# with kmlab's run, and a difference harness/adapters/known-deviations.toml does not list
# fails, as does a listed one that no longer happens. (gpgsm and cmsutil are covered by the
# round trips in tests/adapters.rs; their full runs are in harness/adapters/README.md.)
cargo run --locked -q -p cli -- run --seat '*=openssl-cli' scenarios

# The HTML report of the built-in scenarios, and a screenshot of it in headless Chromium.
ci/report-screenshot.sh target/report
