#!/usr/bin/env bash
# Installs what a fresh machine lacks for the test suite: the OpenSSL command line and its
# headers (the real peer the tests check messages against, and the library the OpenSSL engine
# links), swaks and Python 3 (real SMTP clients the tests deliver to the sink with; smtplib is
# in Python's standard library), the sqlite3 shell (which checks exported KM databases),
# Chromium (the HTML report is tested and photographed in it, headless), NSS's tools
# (pk12util and certutil import the users' PKCS #12 files as Thunderbird would; cmsutil is
# an adapter), gpgsm and faketime (the seated-implementation adapters), Python's jsonschema
# (an independent validator for the transcript schema), aiosmtpd in target/bench-venv (the
# peer of `kmlab bench`) and, if missing, cargo-nextest.
set -euo pipefail

need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
command -v swaks >/dev/null 2>&1 || need+=(swaks)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# NSS's tools: pk12util and certutil for the PKCS #12 tests, cmsutil for its adapter.
{ command -v pk12util >/dev/null 2>&1 && command -v cmsutil >/dev/null 2>&1; } ||
    need+=(libnss3-tools)
# Real S/MIME implementations seated as users (harness/adapters), and faketime for the tools
# that read the system clock.
command -v gpgsm >/dev/null 2>&1 || need+=(gpgsm)
command -v faketime >/dev/null 2>&1 || need+=(faketime)
# Real mail clients for the live users' servers (harness/live) and for `kmlab serve`
# (harness/cli/tests/live_clients.rs, with Python and openssl above): ldapsearch, s-nail, and
# mutt, which needs a terminal and runs inside tmux; curl, usually already on the machine.
command -v ldapsearch >/dev/null 2>&1 || need+=(ldap-utils)
command -v s-nail >/dev/null 2>&1 || need+=(s-nail)
command -v mutt >/dev/null 2>&1 || need+=(mutt)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
command -v curl >/dev/null 2>&1 || need+=(curl)
sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
if [ "${#need[@]}" -gt 0 ]; then
    echo "ci/install-deps.sh: installing ${need[*]}"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}"
fi

# jsonschema for the Python the tests run (which may not be Debian's): pip first, then Debian.
if ! python3 -c 'import jsonschema' >/dev/null 2>&1; then
    python3 -m pip install --quiet jsonschema >/dev/null 2>&1 ||
        DEBIAN_FRONTEND=noninteractive ${sudo_cmd:-} apt-get install -y -qq python3-jsonschema
fi

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "ci/install-deps.sh: cargo-nextest not found; ci/test.sh will use cargo test"
fi

# The peer `kmlab bench` compares its SMTP sink with (P2), which the bench's smoke test runs.
"$(dirname "$0")/install-bench-deps.sh" >/dev/null
