#!/bin/bash
# Run tests/test-dbus.py inside the private system-like environment
# (dbus-daemon with the project's bus policy + polkitd).  The static service
# user and the test users exist only in the fixture's private user database.
#   run-bus-tests.sh SOURCE_ROOT real|none|mock [TEST_SCRIPT]
set -eu
SRC=$1
MODE=$2
SCRIPT=${3:-test-dbus.py}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root" >&2; exit 77; }
export FIXTURE_SYSUSERS="$SRC/sysusers.d/dc-plugin-host.conf $SRC/tests/data/test-users.conf"
export DC_POLKIT_MODE=$MODE
export POLKIT=$MODE
export FIXTURE_NATS=0
export FIXTURE_POLKIT_POLICY="$SRC/polkit/org.deviceconnect.pluginhost.policy"
if [ "$MODE" = real ]; then
        export FIXTURE_POLKIT_RULES="$SRC/tests/data/50-dc-plugin-host-test.rules"
fi
exec "$SRC/tests/test-fixture.sh" "$SRC/dbus" /usr/bin/python3 "$SRC/tests/$SCRIPT"
