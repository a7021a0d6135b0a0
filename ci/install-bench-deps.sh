#!/usr/bin/env bash
# Installs what `kmlab bench` compares against: Postfix (for its smtp-source client and
# smtp-sink server, the P2 peers; its mail service is not started) with apt, and Python's
# aiosmtpd with pip into a virtual environment at target/bench-venv (or $1). Prints the
# interpreter to pass as `kmlab bench --python`.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
if [ ! -x /usr/sbin/smtp-source ] || [ ! -x /usr/sbin/smtp-sink ]; then
    $sudo_cmd apt-get update -qq
    # No questions: the package's debconf prompt (mail server type) is answered "no
    # configuration", which is all the test programs need.
    echo "postfix postfix/main_mailer_type select No configuration" | $sudo_cmd debconf-set-selections
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq postfix
fi

venv="${1:-target/bench-venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" 2>/dev/null || {
        # Debian's python3 needs python3-venv for `-m venv`.
        $sudo_cmd apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3-venv
        python3 -m venv "$venv"
    }
fi
if ! "$venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check aiosmtpd
fi
"$venv/bin/python" -c 'import aiosmtpd, sys; print(sys.executable, "aiosmtpd", aiosmtpd.__version__, file=sys.stderr)'
echo "$venv/bin/python"
