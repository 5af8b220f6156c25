#!/bin/bash
# Install everything dc-plugin-host needs to build, run and test on Debian 12.
# Idempotent: packages already present are not downloaded again.
set -euo pipefail

PACKAGES=(
        build-essential meson ninja-build pkg-config clang libclang-rt-14-dev valgrind jq
        libsystemd-dev libarchive-dev libssl-dev libjson-c-dev libcurl4-openssl-dev libnats-dev
        libglib2.0-dev libglib2.0-bin libglib-testing-0-dev
        libseccomp-dev
        systemd dbus-daemon dbus-system-bus-common polkitd nats-server
        python3-dbusmock python3-gi python3-dbus
        libarchive-tools libxml2-utils openssl minisign
        # packaging (debian/, tools/build-deb.sh), man pages, completion
        dpkg-dev debhelper lintian go-md2man bash-completion man-db
        # the system test (tests/system/): a Debian root booted with systemd-nspawn
        mmdebstrap systemd-container
)

if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: run as root (apt-get)" >&2
        exit 1
fi

# Node.js and npm for nats.js: Debian's, unless the machine already has them.
command -v node >/dev/null || PACKAGES+=(nodejs)
command -v npm >/dev/null || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
        echo "install-deps: installing ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# nats.js (the independent mesh client of the tests) and the JWT/nkey
# minting libraries, pinned by tests/mesh/package-lock.json.
if command -v npm >/dev/null; then
        here=$(cd "$(dirname "$0")/.." && pwd)
        if [ ! -d "$here/tests/mesh/node_modules/nats" ]; then
                echo "install-deps: npm ci (tests/mesh)" >&2
                (cd "$here/tests/mesh" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
        fi
fi
