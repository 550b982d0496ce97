#!/usr/bin/env bash
# run.sh BIN - snapshots of a running bot: tests/fixtures/bot.py writes the state
# root (chain appends, JSON rewritten in place and by rename, hundreds of events a
# second) while BIN creates snapshots through the CLI and the API; every one it
# reports must verify, restore, import and reindex, and say what cut it is.
# Last line: "LIVE: N passed, M failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
suite_bin tests/live/run.sh "$@"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/statesnap-live.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
read -r passed failed < <(pytest_counts "$HERE" "$TMP/live.xml")
echo "LIVE: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
