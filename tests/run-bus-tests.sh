#!/bin/bash
# Run tests/test-dbus.py inside the private system-like environment
# (dbus-daemon with the project's bus policy + polkitd).  The static service
# user must exist before dbus-daemon reads the policy.
#   run-bus-tests.sh SOURCE_ROOT real|none|mock [TEST_SCRIPT]
set -eu
SRC=$1
MODE=$2
SCRIPT=${3:-test-dbus.py}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root" >&2; exit 77; }
command -v systemd-sysusers >/dev/null || { echo "SKIP: systemd-sysusers missing" >&2; exit 77; }
systemd-sysusers "$SRC/sysusers.d/dc-plugin-host.conf"
# A user in group dcadmin for the polkit rules test (real polkitd only).
getent group dcadmin >/dev/null || groupadd --system dcadmin
id dctest >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin -G dcadmin dctest
export DC_POLKIT_MODE=$MODE
export POLKIT=$MODE
export FIXTURE_NATS=0
export FIXTURE_POLKIT_POLICY="$SRC/polkit/org.deviceconnect.pluginhost.policy"
if [ "$MODE" = real ]; then
        export FIXTURE_POLKIT_RULES="$SRC/tests/data/50-dc-plugin-host-test.rules"
fi
exec "$SRC/tests/test-fixture.sh" "$SRC/dbus" /usr/bin/python3 "$SRC/tests/$SCRIPT"
