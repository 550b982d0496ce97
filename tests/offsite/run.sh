#!/usr/bin/env bash
# run.sh BIN - the offsite suite: a real S3-protocol server (s3rver) on loopback
# behind a proxy that checks every request's SigV4 signature with AWS's signer
# (@smithy/signature-v4) and every body's SHA-256/MD5, and statesnap BIN syncing,
# fetching and reindexing through it. Last line: "OFFSITE: N passed, M failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
finish() {
    echo "OFFSITE: $1 passed, $2 failed"
    [ "$2" -eq 0 ] && [ "$1" -gt 0 ]
    exit $?
}
if [ $# -ne 1 ]; then
    echo "usage: tests/offsite/run.sh BIN" >&2
    exit 2
fi
case "$1" in
    /*) export STATESNAP_BIN=$1 ;;
    *) export STATESNAP_BIN=$(pwd)/$1 ;;
esac
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "offsite: node and npm are needed (apt-get install nodejs npm)"
    finish 0 1
fi
# s3rver and the signer from the npm registry, at the versions package-lock.json pins.
if ! (cd "$HERE" && node -e 'require("s3rver"); require("@smithy/signature-v4"); require("@aws-crypto/sha256-js")') >/dev/null 2>&1; then
    echo "offsite: npm ci"
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) || { echo "offsite: npm ci failed"; finish 0 1; }
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/statesnap-offsite.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

/usr/bin/python3 -m pytest -q --tb=short -p no:cacheprovider --rootdir "$HERE" --junitxml "$TMP/offsite.xml" "$HERE"

read -r passed failed < <(/usr/bin/python3 - "$TMP/offsite.xml" <<'PYEND'
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
finish "$passed" "$failed"
