#!/usr/bin/env bash
# Set up a development environment: system packages (via apt when root), a virtualenv
# in .venv, and the project installed into it in editable mode with its dev extras.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="graphviz iptables iproute2 tcpdump dnsmasq-base curl openssh-client ethtool netcat-openbsd iputils-ping python3-venv"
REQUIRED_TOOLS="dot ip iptables tcpdump curl"

missing_tools() {
    local t out=""
    for t in $REQUIRED_TOOLS; do command -v "$t" >/dev/null 2>&1 || out="$out $t"; done
    echo "$out"
}

if [ -n "$(missing_tools)" ] || [ "${PYSTACK_APT:-}" = "force" ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing system packages: $APT_PACKAGES"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends $APT_PACKAGES >/dev/null
    else
        echo "setup: missing system tools:$(missing_tools)" >&2
        echo "setup: run as root, or install: $APT_PACKAGES" >&2
        echo "setup: continuing; tests that need them will skip with a reason" >&2
    fi
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
# compat mode puts the checkout on sys.path, so twisted finds twisted/plugins/ (the
# pystack: endpoint strings) the same way as in a regular install.
.venv/bin/python -m pip install -q -e '.[dev]' --config-settings editable_mode=compat
echo "setup: ready (.venv)"
