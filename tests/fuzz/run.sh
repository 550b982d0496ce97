#!/bin/sh
# run.sh [SECONDS] - run every libFuzzer target over its corpus, then fuzz it for
# SECONDS more (0 = corpus only; default $FUZZ_SECONDS or 20). A non-numeric
# argument (run-all passes the statesnap binary) is ignored. Crashes are saved beside the corpus and fail
# the run. Last line: "FUZZ: N passed, M failed" (one per target).
set -u
cd "$(dirname "$0")/../.." || exit 1
case "${1:-}" in
    ''|*[!0-9]*) secs=${FUZZ_SECONDS:-20} ;;
    *) secs=$1 ;;
esac
pass=0
fail=0
for bin in build/fuzz/bin/fuzz_*; do
    [ -x "$bin" ] || continue
    t=$(basename "$bin" | sed 's/^fuzz_//')
    corpus=tests/fuzz/corpus/$t
    mkdir -p "$corpus" build/fuzz/new/$t build/fuzz/crashes
    # Regressions first: every kept input must run clean.
    if ! "$bin" -runs=0 "$corpus" >build/fuzz/$t.log 2>&1; then
        echo "fuzz $t: a corpus input fails"; tail -20 build/fuzz/$t.log
        fail=$((fail + 1))
        continue
    fi
    if [ "$secs" -gt 0 ]; then
        # New inputs go to a scratch dir so a test run never dirties the tree.
        if ! "$bin" -max_total_time="$secs" -rss_limit_mb=1024 -max_len=65536 -timeout=10 \
                -artifact_prefix=build/fuzz/crashes/$t- build/fuzz/new/$t "$corpus" \
                >>build/fuzz/$t.log 2>&1; then
            echo "fuzz $t: crash found (input in build/fuzz/crashes/):"; grep -A15 "ERROR\|==ABORTING\|deadly" build/fuzz/$t.log | head -30
            fail=$((fail + 1))
            continue
        fi
    fi
    echo "fuzz $t: ok ($(grep -o 'Done [0-9]* runs' build/fuzz/$t.log | tail -1))"
    pass=$((pass + 1))
done
if [ $((pass + fail)) -eq 0 ]; then
    echo "fuzz: no targets built (make fuzz-build)"
    fail=1
fi
echo "FUZZ: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
