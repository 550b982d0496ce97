#!/usr/bin/env bash
# run.sh BIN - the black-box HTTP API suite against the statesnap binary BIN.
# Ends with "API: N passed, M failed"; exits non-zero on any failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$(pwd)
PY=/usr/bin/python3   # Debian's python3 carries pytest, requests, jsonschema, yaml

if [ $# -ne 1 ]; then
    echo "usage: tests/api/run.sh BIN" >&2
    exit 2
fi
case "$1" in
    /*) export STATESNAP_BIN=$1 ;;
    *) export STATESNAP_BIN=$ROOT/$1 ;;
esac

# promtool (Debian package prometheus) checks /metrics; install it when we can.
if ! command -v promtool >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    echo "api: installing prometheus (for promtool)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus \
        >/tmp/statesnap-apt-prometheus.log 2>&1 ||
        { apt-get update -q >>/tmp/statesnap-apt-prometheus.log 2>&1 &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus \
              >>/tmp/statesnap-apt-prometheus.log 2>&1; } ||
        echo "api: could not install prometheus; the promtool test will fail"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/statesnap-api.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
"$PY" -m pytest -q --tb=short -p no:cacheprovider --rootdir "$ROOT/tests/api" \
    --junitxml "$TMP/api.xml" "$ROOT/tests/api"
counts=$("$PY" - "$TMP/api.xml" <<'PYEND'
import sys
import xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print(0, 1)
    sys.exit(0)
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
tests = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) + int(s.get("skipped", 0)) for s in suites)
print(tests - bad, bad if tests else max(bad, 1))
PYEND
)
passed=${counts% *}
failed=${counts#* }
echo "API: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
