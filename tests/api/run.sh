#!/usr/bin/env bash
# run.sh BIN - the black-box HTTP API suite against the statesnap binary BIN.
# Ends with "API: N passed, M failed"; exits non-zero on any failure.
set -u
. "$(dirname "$0")/../lib.sh"
suite_bin tests/api/run.sh "$@"
cd "$(dirname "$0")/../.." || exit 1
ROOT=$(pwd)
# promtool (Debian package prometheus) checks /metrics.
apt_ensure api promtool:prometheus
TMP=$(mktemp -d "${TMPDIR:-/tmp}/statesnap-api.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
read -r passed failed < <(pytest_counts "$ROOT/tests/api" "$TMP/api.xml")
echo "API: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
