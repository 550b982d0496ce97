#!/usr/bin/env bash
# run-all.sh BIN - run every test suite against the statesnap binary BIN and end
# with one summary line of our own: "N passed, M failed". Exit 1 on any failure.
#
# Suites: C unit tests (build/test/unit/test_*, cmocka TAP), tests/cli (pytest),
# tests/api/run.sh and tests/e2e/run.sh when present, tests/crash/run.sh.
# Each suite prints its own line as it finishes; BIN reaches them as STATESNAP_BIN.
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
. "$ROOT/tests/lib.sh"

if [ $# -ne 1 ]; then
    echo "usage: tests/run-all.sh BIN" >&2
    exit 2
fi
case "$1" in
    /*) BIN=$1 ;;
    *) BIN=$ROOT/$1 ;;
esac
export STATESNAP_BIN=$BIN

TMP=$(mktemp -d "${TMPDIR:-/tmp}/statesnap-run-all.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

PASSED=0
FAILED=0

# add LABEL PASS FAIL - count one suite's results and print its line.
add() {
    echo "$1: $2 passed, $3 failed"
    PASSED=$((PASSED + $2))
    FAILED=$((FAILED + $3))
}

if [ ! -x "$BIN" ]; then
    echo "run-all: $BIN is not an executable file" >&2
    add "binary" 0 1
fi

# (a) C unit tests: count TAP "ok"/"not ok" lines; a crash, a non-zero exit
# without a "not ok", or results missing from the plan each count as one failure.
unit_pass=0
unit_fail=0
for t in build/test/unit/test_*; do
    [ -f "$t" ] && [ -x "$t" ] || continue
    out=$TMP/unit.out
    CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$out" 2>&1
    rc=$?
    ok=$(grep -cE '^ok [0-9]+' "$out")
    # cmocka's TAP marks a skipped test "not ok N # SKIP": neither a pass nor
    # a failure (test_s3's round trip runs in the offsite suite, with a server).
    skipped=$(grep -cE '^not ok [0-9]+ # SKIP' "$out")
    notok=$(($(grep -cE '^not ok [0-9]+' "$out") - skipped))
    plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$out" | head -1)
    extra=0
    if [ "$rc" -ge 128 ]; then
        extra=1
        echo "unit $(basename "$t"): crashed (exit status $rc)"
    elif [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
        extra=1
        echo "unit $(basename "$t"): exit status $rc without a failing test"
    elif [ -n "$plan" ] && [ $((ok + notok + skipped)) -lt "$plan" ]; then
        extra=1
        echo "unit $(basename "$t"): $((ok + notok + skipped)) results for a plan of $plan"
    fi
    if [ "$notok" -gt 0 ] || [ "$extra" -gt 0 ]; then
        echo "unit $(basename "$t"): $ok passed, $((notok + extra)) failed"
        grep -E '^not ok|^# ' "$out" | grep -v '^# not ok - ' | sed 's/^/    /'
    fi
    unit_pass=$((unit_pass + ok))
    unit_fail=$((unit_fail + notok + extra))
done
add "UNIT" "$unit_pass" "$unit_fail"

# pytest_suite LABEL DIR - run pytest on DIR, count results from its JUnit XML.
pytest_suite() {
    local xml=$TMP/$1.xml counts
    rm -f "$xml"
    counts=$(pytest_counts "$ROOT/$2" "$xml")
    add "$1" ${counts% *} ${counts#* }
}

# external_suite LABEL SCRIPT - run SCRIPT BIN; its last line is "LABEL: N passed, M failed".
external_suite() {
    local out=$TMP/$1.out last p f rc
    if [ -x "$2" ]; then
        "$2" "$BIN" 2>&1 | tee "$out"
    else
        bash "$2" "$BIN" 2>&1 | tee "$out"
    fi
    rc=${PIPESTATUS[0]}
    last=$(grep -v '^[[:space:]]*$' "$out" | tail -1)
    if [[ $last =~ ^$1:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        p=${BASH_REMATCH[1]}
        f=${BASH_REMATCH[2]}
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            echo "run-all: $2 exited $rc but reported no failure"
            f=1
        fi
        PASSED=$((PASSED + p))
        FAILED=$((FAILED + f))
    else
        echo "run-all: $2 (exit $rc) did not end with \"$1: N passed, M failed\""
        add "$1" 0 1
    fi
}

# (a2) the house plan (docs/DESIGN.md): layers, circles, calls, file sizes
external_suite LAYERS scripts/check-layers.py

# (b) black-box CLI tests
pytest_suite CLI tests/cli

# (c), (d) suites owned by others, when they exist
[ -f tests/api/run.sh ] && external_suite API tests/api/run.sh
[ -f tests/e2e/run.sh ] && external_suite E2E tests/e2e/run.sh

# (e) crash safety
external_suite CRASH tests/crash/run.sh
external_suite LIVE tests/live/run.sh
external_suite OFFSITE tests/offsite/run.sh
external_suite RELIABILITY tests/reliability/run.sh
external_suite VALGRIND tests/unit/valgrind.sh
external_suite FUZZ tests/fuzz/run.sh

# (f) packaging and operations: the release build, the API suite on it, deploy files
[ -f tests/ops/run.sh ] && external_suite OPS tests/ops/run.sh

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
