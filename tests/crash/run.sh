#!/usr/bin/env bash
# run.sh BIN - crash-safety suite: kill BIN (a test build, failpoints compiled in)
# at every point of create, delete, restore and reindex, then check the store and
# the state root. Last line: "CRASH: N passed, M failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
if [ $# -ne 1 ]; then
    echo "usage: tests/crash/run.sh BIN" >&2
    exit 2
fi
case "$1" in
    /*) export STATESNAP_BIN=$1 ;;
    *) export STATESNAP_BIN=$(pwd)/$1 ;;
esac
TMP=$(mktemp -d "${TMPDIR:-/tmp}/statesnap-crash.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

/usr/bin/python3 -m pytest -q --tb=short -p no:cacheprovider --rootdir "$HERE" --junitxml "$TMP/crash.xml" "$HERE"

read -r passed failed < <(/usr/bin/python3 - "$TMP/crash.xml" <<'PYEND'
import sys
import xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print(0, 1)
    sys.exit(0)
passed = failed = 0
for s in ([root] if root.tag == "testsuite" else root.iter("testsuite")):
    bad = int(s.get("failures", 0)) + int(s.get("errors", 0)) + int(s.get("skipped", 0))
    passed += int(s.get("tests", 0)) - bad
    failed += bad
print(passed, failed if passed + failed else 1)
PYEND
)
echo "CRASH: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
