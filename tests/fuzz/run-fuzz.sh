#!/bin/bash
# run-fuzz.sh replay TARGET CORPUS        run every seed once (a regression test)
# run-fuzz.sh fuzz TARGET CORPUS WORKDIR  fuzz for $DC_FUZZ_SECONDS (default 20)
# A crash leaves its input in WORKDIR/crashes/; copy it into CORPUS (named
# crash-<what>) with the fix so replay keeps it fixed (tests/fuzz/README.md).
set -eu
mode=$1 target=$2 corpus=$3
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
case $mode in
replay)
        n=$(find "$corpus" -type f | wc -l)
        [ "$n" -gt 0 ] || { echo "no seeds in $corpus" >&2; exit 1; }
        # libFuzzer's default exit code for a crash, 77, means "skipped" to meson
        exec "$target" -runs=0 -rss_limit_mb=2048 -error_exitcode=1 -timeout_exitcode=1 \
                -artifact_prefix="${TMPDIR:-/tmp}/" "$corpus"
        ;;
fuzz)
        work=$4
        rm -rf "$work"
        mkdir -p "$work/corpus" "$work/crashes"
        "$target" -max_total_time="${DC_FUZZ_SECONDS:-20}" -timeout=10 -rss_limit_mb=2048 -error_exitcode=1 -timeout_exitcode=1 -max_len=65536 \
                -print_final_stats=1 -artifact_prefix="$work/crashes/" "$work/corpus" "$corpus" 2>&1 | tail -n 40
        rc=${PIPESTATUS[0]}
        if ls "$work/crashes/"* >/dev/null 2>&1; then
                echo "crash inputs: $(ls "$work/crashes/")" >&2
                exit 1
        fi
        exit "$rc"
        ;;
esac
echo "usage: $0 replay|fuzz TARGET CORPUS [WORKDIR]" >&2
exit 2
