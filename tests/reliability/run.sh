#!/usr/bin/env bash
# run.sh BIN - reliability suite against the statesnap binary BIN: hostile
# archives (import and restore), hostile HTTP, a full disk (tmpfs, as root),
# load under wrk, and secrets. Last line: "RELIABILITY: N passed, M failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3   # Debian's python3 carries pytest, requests, jsonschema, yaml
if [ $# -ne 1 ]; then
    echo "usage: tests/reliability/run.sh BIN" >&2
    exit 2
fi
case "$1" in
    /*) export STATESNAP_BIN=$1 ;;
    *) export STATESNAP_BIN=$(pwd)/$1 ;;
esac

# wrk (Debian package wrk) drives the load test; install it when we can.
if ! command -v wrk >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    echo "reliability: installing wrk"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk \
        >/tmp/statesnap-apt-wrk.log 2>&1 ||
        { apt-get update -q >>/tmp/statesnap-apt-wrk.log 2>&1 &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk \
              >>/tmp/statesnap-apt-wrk.log 2>&1; } ||
        echo "reliability: could not install wrk; the load test will fail"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/statesnap-reliability.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

"$PY" -m pytest -q --tb=short -p no:cacheprovider --rootdir "$HERE" --junitxml "$TMP/rel.xml" "$HERE"

read -r passed failed < <("$PY" - "$TMP/rel.xml" <<'PYEND'
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
echo "RELIABILITY: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
