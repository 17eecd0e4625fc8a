#!/usr/bin/env bash
# Set up a development environment: the system tools the tests and examples run (installed
# with apt when root), a virtualenv in .venv, and the project installed into it in editable
# mode with its dev extras.
#
#   bash scripts/setup.sh           set up (quick when nothing changed)
#   bash scripts/setup.sh --check   list every tool and whether it is there; install nothing;
#                                   exit 1 if one is missing
#
# PYSTACK_APT=force installs every package below even when its tool is present.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every system tool a test or an example runs, and the Debian package that provides it.
# tests/cli/test_setup_script.py checks that this list covers the tools the tests use.
TOOLS="
dot             graphviz
ip              iproute2
nstat           iproute2
ss              iproute2
bridge          iproute2
iptables        iptables
iptables-legacy iptables
nft             nftables
tcpdump         tcpdump
dnsmasq         dnsmasq-base
curl            curl
ssh             openssh-client
ethtool         ethtool
nc              netcat-openbsd
ping            iputils-ping
hping3          hping3
radvd           radvd
nmap            nmap
p0f             p0f
tshark          tshark
chromium        chromium
rsvg-convert    librsvg2-bin
setpriv         util-linux
git             git
sysctl          procps
"

have() {
    # /usr/sbin is not on a user's PATH on Debian, where dnsmasq, p0f, iptables live.
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}

# "package package ..." for the tools that are missing (each package once).
missing_packages() {
    local tool pkg out=" "
    while read -r tool pkg; do
        [ -n "$tool" ] || continue
        if ! have "$tool" || [ "${PYSTACK_APT:-}" = "force" ]; then
            case "$out" in *" $pkg "*) ;; *) out="$out$pkg " ;; esac
        fi
    done <<<"$TOOLS"
    out="${out# }"
    echo "${out% }"
}

check_tools() {
    local tool pkg missing=0
    while read -r tool pkg; do
        [ -n "$tool" ] || continue
        if have "$tool"; then
            printf 'ok       %-16s (%s)\n' "$tool" "$pkg"
        else
            printf 'missing  %-16s (%s)\n' "$tool" "$pkg"
            missing=1
        fi
    done <<<"$TOOLS"
    return "$missing"
}

install_packages() {
    local packages="$1"
    [ -n "$packages" ] || return 0
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing system packages: $packages"
        export DEBIAN_FRONTEND=noninteractive
        # tshark asks whether non-root users may capture; answer no, without a prompt.
        echo "wireshark-common wireshark-common/install-setuid boolean false" |
            debconf-set-selections 2>/dev/null || true
        apt-get -o DPkg::Lock::Timeout=300 update -qq
        # shellcheck disable=SC2086  # one word per package
        apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $packages \
            >/dev/null
    else
        echo "setup: missing system packages: $packages" >&2
        echo "setup: run this script as root, or: apt install $packages" >&2
        echo "setup: continuing; tests that need them skip, naming the package" >&2
    fi
}

if [ "${1:-}" = "--check" ]; then
    check_tools
    exit $?
fi

PYTHON="${PYTHON:-python3}"
PACKAGES="$(missing_packages)"
if [ ! -x .venv/bin/python ] && ! "$PYTHON" -c "import ensurepip" >/dev/null 2>&1; then
    PACKAGES="$PACKAGES python3-venv"
fi
install_packages "$PACKAGES"

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi

# Reinstall only when the declared dependencies changed (or the install is gone): the
# stamp holds the digest of pyproject.toml as last installed.
STAMP=.venv/.setup-stamp
WANT="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ -x .venv/bin/pystack ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; then
    echo "setup: ready (.venv, up to date)"
    exit 0
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
# compat mode puts the checkout on sys.path, so twisted finds twisted/plugins/ (the
# pystack: endpoint strings) the same way as in a regular install.
.venv/bin/python -m pip install -q -e '.[dev]' --config-settings editable_mode=compat
echo "$WANT" >"$STAMP"
echo "setup: ready (.venv)"
