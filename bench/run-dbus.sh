#!/bin/bash
# Inside the private bus fixture: start dc-plugin-hostd (as dc-plugin-host)
# with the example plugins, run bench-dbus against it, stop it.
set -eu
B=$1
SRC=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /run/dc-plugin-host-bench.XXXXXX)
chmod 0755 "$W"
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$W"' EXIT
install -d -m 0755 "$W/plugins"
install -d -m 0700 -o dc-plugin-host -g dc-plugin-host "$W/state"
for p in hello-world counter sensor; do
        install -d -m 0755 "$W/plugins/$p"
        install -m 0644 "$B/examples/$p/$p.so" "$B/examples/$p/manifest.json" "$W/plugins/$p/"
done
printf 'PluginDirectories=%s/plugins\nStateDirectory=%s/state\nSignaturesFile=%s/none\nTrustedKeysDirectory=%s/none\n' \
        "$W" "$W" "$W" "$W" > "$W/hostd.conf"
setpriv --reuid=dc-plugin-host --regid=dc-plugin-host --clear-groups \
        "$B/src/daemon/dc-plugin-hostd" --config "$W/hostd.conf" --log-level=warning &
PID=$!
gdbus wait --system --timeout 10 org.deviceconnect.PluginHost
"$B/bench/bench-dbus" "${BENCH_CALLS:-10000}"
