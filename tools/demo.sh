#!/bin/bash
# Install dependencies, build, and run dc-plugin-hostd in the foreground with
# the example plugins (Ctrl-C stops it).  Nothing is installed system-wide:
# the examples are copied into a private, root-owned plugin directory under
# /run, as the loader's ownership rules demand.  Without a system bus that
# carries our policy, a private system-like bus with the project's policy
# and the real polkitd is started for the demo.  The mesh front end joins
# $NATS_URL, or a local nats-server started here when it is unset.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
systemd-sysusers "$PWD/sysusers.d/dc-plugin-host.conf"

DEMO=/run/dc-plugin-host-demo
rm -rf "$DEMO"
install -d -m 0755 "$DEMO" "$DEMO/plugins" "$DEMO/etc"
install -d -m 0700 -o dc-plugin-host -g dc-plugin-host "$DEMO/state"
for p in hello-world counter sensor; do
        install -d -m 0755 "$DEMO/plugins/$p"
        install -m 0644 "build/examples/$p/$p.so" "build/examples/$p/manifest.json" "$DEMO/plugins/$p/"
done
# Pin the examples (strict allowlist mode), as a production host would.
{
        printf '{'
        sep=
        for p in hello-world counter sensor; do
                printf '%s"%s":"%s"' "$sep" "$p" "$(build/src/hostctl/dc-plugin-hostctl hash "$DEMO/plugins/$p/$p.so")"
                sep=,
        done
        printf '}\n'
} > "$DEMO/etc/signatures.json"
chmod 0644 "$DEMO/etc/signatures.json"
cat > "$DEMO/etc/dc-plugin-host.conf" <<CONF
PluginDirectories=$DEMO/plugins
StateDirectory=$DEMO/state
SignaturesFile=$DEMO/etc/signatures.json
TrustedKeysDirectory=$DEMO/etc/trusted-keys.d
PluginConfigDirectory=$DEMO/etc/plugin-config
# sensor runs in a sandboxed worker process, the others in the daemon
WorkerBinary=$PWD/build/src/worker/dc-plugin-worker
PluginIsolation=sensor:process
CONF
build/src/daemon/dc-plugin-hostd --no-bus --check --config "$DEMO/etc/dc-plugin-host.conf" || true

cat > "$DEMO/run" <<RUN
#!/bin/bash
echo
echo "dc-plugin-hostd is starting on \$DBUS_SYSTEM_BUS_ADDRESS (Ctrl-C stops it)."
echo "In another shell, as root:"
echo "  export DBUS_SYSTEM_BUS_ADDRESS=\$DBUS_SYSTEM_BUS_ADDRESS"
echo "  $PWD/build/src/hostctl/dc-plugin-hostctl list"
echo "  $PWD/build/src/hostctl/dc-plugin-hostctl invoke hello-world hello_world '{\"name\":\"you\"}'"
echo "On the mesh (NATS_URL=\$NATS_URL), device plugin-host-1 in tenant default:"
echo "  subject device-connect.default.plugin-host-1.cmd, e.g. {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"get_status\"}"
echo
exec setpriv --reuid=dc-plugin-host --regid=dc-plugin-host --clear-groups \\
        $PWD/build/src/daemon/dc-plugin-hostd --config "$DEMO/etc/dc-plugin-host.conf" --log-target=console
RUN
chmod 0755 "$DEMO/run"

if [ -S /run/dbus/system_bus_socket ] && [ -e /usr/share/dbus-1/system.d/org.deviceconnect.PluginHost.conf ]; then
        export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket
        if [ -z "${NATS_URL:-}" ]; then
                nats-server -a 127.0.0.1 -p 4222 >"$DEMO/nats.log" 2>&1 &
                trap 'kill $!' EXIT
                export NATS_URL=nats://127.0.0.1:4222
        fi
        "$DEMO/run"
        exit
fi
# The fixture starts nats-server and exports NATS_URL unless one is given.
FIXTURE_NATS=$([ -n "${NATS_URL:-}" ] && echo 0 || echo 1) \
FIXTURE_POLKIT_POLICY="$PWD/polkit/org.deviceconnect.pluginhost.policy" \
        exec tests/test-fixture.sh "$PWD/dbus" "$DEMO/run"
