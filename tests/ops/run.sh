#!/usr/bin/env bash
# run.sh BIN - the packaging and operations suite. Builds the release binary
# with scripts/build-release.sh (the Dockerfile's build step), runs the whole
# API suite (tests/api/run.sh) against that binary, then the pytest suite in
# tests/ops with BIN as the CLI under test. Ends with "OPS: N passed, M failed"
# (the API-on-release results are counted in); exits non-zero on any failure.
set -u
. "$(dirname "$0")/../lib.sh"
suite_bin tests/ops/run.sh "$@"
cd "$(dirname "$0")/../.." || exit 1
ROOT=$(pwd)
RELEASE=$ROOT/build/release/statesnap

# The tools the tests drive: promtool (prometheus), systemd-analyze (systemd),
# jq (the README's recipes), readelf (binutils), curl.
apt_ensure ops promtool:prometheus systemd-analyze:systemd jq:jq readelf:binutils curl:curl

TMP=$(mktemp -d "${TMPDIR:-/tmp}/statesnap-ops.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0

# 1. The release build, exactly as the Dockerfile runs it.
echo "ops: scripts/build-release.sh"
if scripts/build-release.sh >"$TMP/build.log" 2>&1; then
    tail -1 "$TMP/build.log"
    passed=$((passed + 1))
else
    tail -30 "$TMP/build.log"
    echo "ops: the release build failed"
    failed=$((failed + 1))
fi

# 2. The whole HTTP API suite against the release binary.
if [ -x "$RELEASE" ]; then
    echo "ops: tests/api/run.sh $RELEASE"
    tests/api/run.sh "$RELEASE" 2>&1 | tee "$TMP/api.out"
    rc=${PIPESTATUS[0]}
    last=$(grep -v '^[[:space:]]*$' "$TMP/api.out" | tail -1)
    if [[ $last =~ ^API:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        p=${BASH_REMATCH[1]}
        f=${BASH_REMATCH[2]}
        [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
        echo "ops: API suite on the release binary: $p passed, $f failed"
        passed=$((passed + p))
        failed=$((failed + f))
    else
        echo "ops: tests/api/run.sh (exit $rc) did not end with \"API: N passed, M failed\""
        failed=$((failed + 1))
    fi
else
    echo "ops: no release binary, API suite not run"
    failed=$((failed + 1))
fi

# 3. tests/ops: hardening (readelf), help vs option tables, config, systemd,
#    Prometheus rules, Dockerfile, README recipes.
[ -x "$RELEASE" ] && export STATESNAP_RELEASE_BIN=$RELEASE
counts=$(pytest_counts "$ROOT/tests/ops" "$TMP/ops.xml")
passed=$((passed + ${counts% *}))
failed=$((failed + ${counts#* }))

echo "OPS: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
