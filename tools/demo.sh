#!/bin/bash
# Install dependencies, build, and run dc-plugin-hostd in the foreground with
# the example plugins (Ctrl-C stops it).  Nothing is installed system-wide:
# the examples are copied into a private, root-owned plugin directory under
# /run, as the loader's ownership rules demand.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null

DEMO=/run/dc-plugin-host-demo
rm -rf "$DEMO"
install -d -m 0755 "$DEMO" "$DEMO/plugins" "$DEMO/etc"
install -d -m 0700 "$DEMO/state"
for p in hello-world counter sensor; do
        install -d -m 0755 "$DEMO/plugins/$p"
        install -m 0644 "build/examples/$p/$p.so" "build/examples/$p/manifest.json" "$DEMO/plugins/$p/"
done
# Pin the examples (strict allowlist mode), as a production host would.
{
        printf '{'
        sep=
        for p in hello-world counter sensor; do
                printf '%s"%s":"sha256:%s"' "$sep" "$p" "$(sha256sum "$DEMO/plugins/$p/$p.so" | cut -d' ' -f1)"
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
CONF

echo "dc-plugin-hostd: plugins in $DEMO/plugins, configuration $DEMO/etc (Ctrl-C to stop)" >&2
build/src/daemon/dc-plugin-hostd --check --config "$DEMO/etc/dc-plugin-host.conf" || true
exec build/src/daemon/dc-plugin-hostd --no-bus --config "$DEMO/etc/dc-plugin-host.conf" --log-target=console "$@"
