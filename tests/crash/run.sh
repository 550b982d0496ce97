#!/usr/bin/env bash
# run.sh BIN - crash-safety suite: kill BIN (a test build, failpoints compiled in)
# at every point of create, delete, restore, prune, import and reindex, then
# check the store and the state root. Last line: "CRASH: N passed, M failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
suite_bin tests/crash/run.sh "$@"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/statesnap-crash.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
read -r passed failed < <(pytest_counts "$HERE" "$TMP/crash.xml")
echo "CRASH: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
