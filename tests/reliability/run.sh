#!/usr/bin/env bash
# run.sh BIN - reliability suite against the statesnap binary BIN: hostile
# archives (import and restore), hostile HTTP, a full disk (tmpfs, as root),
# load under wrk, and secrets. Last line: "RELIABILITY: N passed, M failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
suite_bin tests/reliability/run.sh "$@"
# wrk (Debian package wrk) drives the load test.
apt_ensure reliability wrk:wrk
TMP=$(mktemp -d "${TMPDIR:-/tmp}/statesnap-reliability.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
read -r passed failed < <(pytest_counts "$HERE" "$TMP/rel.xml")
echo "RELIABILITY: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
