#!/bin/bash
# Run every benchmark once, side by side with its floor, and print JSON lines.
# Usage: bench/run.sh [BUILD_DIR]   (default: build-bench, a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build-bench}
[ -d "$B" ] || meson setup "$B" --buildtype=release -Dtests=false >/dev/null
ninja -C "$B" bench >/dev/null

# A private tmpfs, root-owned, not below a sticky world-writable directory
# (/dev/shm is refused by the loader's ancestor checks, and /run is not
# always a tmpfs).  Without mount rights the numbers are for the disk.
WORK=$(mktemp -d /run/dc-plugin-host-bench.XXXXXX)
if mount -t tmpfs -o size=4G,mode=0755 tmpfs "$WORK" 2>/dev/null; then
        trap 'umount "$WORK"; rmdir "$WORK"' EXIT
else
        echo "bench: cannot mount a tmpfs; measuring on $(df --output=fstype "$WORK" | tail -1)" >&2
        trap 'rm -rf "$WORK"' EXIT
fi
chmod 0755 "$WORK"

"$B/bench/bench-hash" "$WORK" 32 15
"$B/bench/bench-install" "$WORK/install" "$B/examples/hello-world" 2500 9
"$B/bench/bench-mesh" "$PWD/$B/src/daemon/dc-plugin-hostd" "$WORK/mesh" "$B/examples" "$B/bench/bench-plugin.so" 5000
"$B/bench/bench-coldstart" "$B/src/daemon/dc-plugin-hostd" "$B/bench/bench-dlopen" "$B/bench/bench-plugin.so" "$WORK/cold" 100 9
# 200 daemons, hostctl --mesh hosts and rollout (nats.js from tests/mesh/node_modules)
if [ -d tests/mesh/node_modules/nats ]; then
        DC_HOSTD="$PWD/$B/src/daemon/dc-plugin-hostd" DC_HOSTCTL="$PWD/$B/src/hostctl/dc-plugin-hostctl" \
        DC_TEST_PLUGINS_DIR="$PWD/$B/bench" DC_EXAMPLES_DIR="$PWD/$B/examples" DC_PLUGIN_WORKER="$PWD/$B/src/worker/dc-plugin-worker" \
                node bench/bench-fleet.mjs "$WORK/fleet" 200 3
else
        echo "bench: skipping bench-fleet (cd tests/mesh && npm ci)" >&2
fi

# D-Bus: a private system-like bus with the project's policy and the real
# polkitd; the service user exists only inside the fixture.
FIXTURE_SYSUSERS="$PWD/sysusers.d/dc-plugin-host.conf" \
POLKIT=real FIXTURE_NATS=0 FIXTURE_POLKIT_POLICY=$PWD/polkit/org.deviceconnect.pluginhost.policy \
        tests/test-fixture.sh dbus bench/run-dbus.sh "$PWD/$B"
