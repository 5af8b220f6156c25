#!/bin/bash
# The mesh tests: nats.js (tests/mesh/node_modules, installed by
# tools/install-deps.sh) against the real daemon and a real nats-server.
#   run-mesh-tests.sh SOURCE_ROOT [TEST.mjs...]   (default: all but the 200-daemon one)
set -eu
SRC=$1
shift
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root" >&2; exit 77; }
command -v nats-server >/dev/null || { echo "SKIP: nats-server missing" >&2; exit 77; }
[ -d "$SRC/tests/mesh/node_modules/nats" ] || { echo "SKIP: run tools/install-deps.sh (npm nats)" >&2; exit 77; }
export DC_FIXTURES_DIR=${DC_FIXTURES_DIR:-$SRC/tests/fixtures/device-connect}
cd "$SRC/tests/mesh"
[ $# -gt 0 ] || set -- test-mesh.mjs test-mesh-wire.mjs test-mesh-fleet.mjs test-mesh-auth.mjs test-mesh-scale.mjs test-mesh-hostile.mjs
exec node --test --test-reporter=spec --test-concurrency=1 --test-timeout=120000 "$@"
