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
. "$HERE/../lib.sh"
suite_bin tests/offsite/run.sh "$@"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "offsite: node and npm are needed (apt-get install nodejs npm)"
    finish 0 1
fi
# s3rver and the signer from the npm registry, at the versions package-lock.json pins.
if ! (cd "$HERE" && node -e 'require("s3rver"); require("@smithy/signature-v4"); require("@aws-crypto/sha256-js")') >/dev/null 2>&1; then
    echo "offsite: npm ci"
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) || { echo "offsite: npm ci failed"; finish 0 1; }
fi
# A real S3 client (boto3, Debian's python3-boto3) changes the bucket behind
# statesnap's back: deleted, overwritten and foreign objects.
if ! "$PY" -c 'import boto3' >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "offsite: installing python3-boto3"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-boto3 \
            >/tmp/statesnap-apt-offsite.log 2>&1 ||
            { apt-get update -q >>/tmp/statesnap-apt-offsite.log 2>&1 &&
              DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-boto3 \
                  >>/tmp/statesnap-apt-offsite.log 2>&1; } ||
            echo "offsite: could not install python3-boto3; the tests that need it will fail"
    else
        echo "offsite: python3-boto3 is missing (not root, not installing); the tests that need it will fail"
    fi
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/statesnap-offsite.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

read -r passed failed < <(pytest_counts "$HERE" "$TMP/offsite.xml")
finish "$passed" "$failed"
