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
# The same plugin twice (its id patched, as bench-coldstart does): one in
# the daemon's process, one in a worker process.
for p in bench-inp bench-iso; do
        install -d -m 0755 "$W/plugins/$p"
        sed "s/bench-XXX/$p/" "$B/bench/bench-plugin.so" >"$W/plugins/$p/$p.so"
        chmod 0644 "$W/plugins/$p/$p.so"
        printf '{"id":"%s","version":"1.0.0","runtime":"c","api_level":1}\n' "$p" >"$W/plugins/$p/manifest.json"
done
# hello-world in process: the Ping comparison is about the D-Bus path
printf 'PluginDirectories=%s/plugins\nStateDirectory=%s/state\nSignaturesFile=%s/none\nTrustedKeysDirectory=%s/none\n' \
        "$W" "$W" "$W" "$W" > "$W/hostd.conf"
printf 'PluginIsolation=hello-world:in-process bench-inp:in-process bench-iso:process\nOperationsPerMinute=100000\nWorkerBinary=%s/src/worker/dc-plugin-worker\n' "$B" \
        >> "$W/hostd.conf"
setpriv --reuid=dc-plugin-host --regid=dc-plugin-host --clear-groups \
        "$B/src/daemon/dc-plugin-hostd" --config "$W/hostd.conf" --log-level=warning &
PID=$!
gdbus wait --system --timeout 10 org.deviceconnect.PluginHost
"$B/bench/bench-dbus" "${BENCH_CALLS:-10000}"
"$B/bench/bench-dbus" "${BENCH_CALLS:-10000}" isolation bench-inp bench-iso
