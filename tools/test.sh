#!/bin/bash
# Install dependencies, build, and run the whole test suite five ways:
# a plain build, ASan+UBSan, the unit suites under valgrind, the unit
# suites as an ordinary user (nobody) on an out-of-tree build, and the
# libFuzzer targets (clang): every corpus replayed, and a bounded campaign
# of $DC_FUZZ_SECONDS (default 20) per target (tests/fuzz/README.md).
# The last line printed is "N passed, N failed" (summed over every run).
set -u
cd "$(dirname "$0")/.."

tools/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

setup() { # setup DIR [meson options...]
        local dir=$1
        shift
        if [ -d "$dir" ]; then
                meson setup --reconfigure "$dir" "$@" >/dev/null
        else
                meson setup "$dir" "$@" >/dev/null
        fi
}

rc=0
setup build || rc=1
setup build-asan -Db_sanitize=address,undefined -Db_lundef=false || rc=1
CC=clang setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args=-fsanitize=fuzzer-no-link || rc=1
rm -f build/meson-logs/testlog*.json build-asan/meson-logs/testlog*.json build-fuzz/meson-logs/testlog*.json
# Build everything first: a target no test depends on must still compile.
ninja -C build >/dev/null || { echo "build failed" >&2; rc=1; }
ninja -C build-asan >/dev/null || { echo "ASan build failed" >&2; rc=1; }
ninja -C build-fuzz fuzz >/dev/null || { echo "fuzz build failed" >&2; rc=1; }

echo "== plain build =="
meson test -C build --print-errorlogs || rc=1
echo "== ASan + UBSan =="
# The system suite tests the Debian packages in a container: once, above.
ASAN_OPTIONS=fast_unwind_on_malloc=0:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        meson test -C build-asan --no-suite system --print-errorlogs || rc=1
echo "== valgrind (unit suites) =="
meson test -C build --suite unit --print-errorlogs --timeout-multiplier 4 \
        --wrap="valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --quiet" || rc=1

echo "== unit suites as nobody, out of tree =="
# What a newcomer gets: every case that does not need root runs (the rest
# skip, saying why).  The build directory is nobody's, below this root-owned tree.
mkdir -p build-nobody && chown nobody:nogroup build-nobody
rm -f build-nobody/b/meson-logs/testlog*.json
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$PWD/build-nobody" "$@"; }
if [ -d build-nobody/b ]; then
        as_nobody meson setup --reconfigure build-nobody/b >/dev/null || rc=1
else
        as_nobody meson setup build-nobody/b >/dev/null || rc=1
fi
as_nobody ninja -C build-nobody/b >/dev/null || { echo "unprivileged build failed" >&2; rc=1; }
as_nobody meson test -C build-nobody/b --suite unit --print-errorlogs || rc=1

echo "== libFuzzer: corpus replay, then ${DC_FUZZ_SECONDS:-20} s per target =="
meson test -C build-fuzz --no-rebuild --suite fuzz-replay --suite fuzz --print-errorlogs || rc=1

logs=(build/meson-logs/testlog*.json build-asan/meson-logs/testlog*.json build-nobody/b/meson-logs/testlog*.json
      build-fuzz/meson-logs/testlog*.json)
if ! ls "${logs[@]}" >/dev/null 2>&1; then
        echo "0 passed, 1 failed"
        exit 1
fi
skipped=$(cat "${logs[@]}" | jq -rs '[.[].result] | map(select(.=="SKIP")) | length')
[ "$skipped" -gt 0 ] && echo "$skipped skipped"
summary=$(cat "${logs[@]}" | jq -rs '[.[].result] | "\(map(select(.=="OK" or .=="EXPECTEDFAIL"))|length) passed, \(map(select(.=="FAIL" or .=="TIMEOUT" or .=="ERROR" or .=="UNEXPECTEDPASS"))|length) failed"')
echo "$summary"
case "$summary" in
*", 0 failed") ;;
*) rc=1 ;;
esac
exit $rc
