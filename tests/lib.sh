# lib.sh - what the suite runners (tests/*/run.sh, tests/run-all.sh) share:
# the binary under test, installing a missing tool, and counting pytest results.
# Source it; it defines functions and PY, and exports STATESNAP_TEST_RESTORE_QUIET_MS.

# Restores wait for a quiet period (restore_quiet_ms, 2 s) before they swap;
# the suites that do not test it skip the wait (test builds only read this;
# a config that sets restore_quiet_ms wins).
export STATESNAP_TEST_RESTORE_QUIET_MS=${STATESNAP_TEST_RESTORE_QUIET_MS:-0}
PY=/usr/bin/python3   # Debian's python3 has pytest, requests, jsonschema, yaml; a pyenv one may not

# suite_bin RUNNER ARG... - export STATESNAP_BIN as the absolute path of the
# single argument (relative to the caller's directory); usage error otherwise.
suite_bin() {
    local runner=$1
    shift
    if [ $# -ne 1 ]; then
        echo "usage: $runner BIN" >&2
        exit 2
    fi
    case "$1" in
        /*) export STATESNAP_BIN=$1 ;;
        *) export STATESNAP_BIN=$(pwd)/$1 ;;
    esac
}

# apt_ensure LABEL COMMAND:PACKAGE... - apt-get install the package of every
# missing command, when root; one update and a retry if the first try fails.
apt_ensure() {
    local label=$1 missing="" pair log=/tmp/statesnap-apt-$1.log
    shift
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "$label: missing$missing (not root, not installing); the tests that need them will fail"
        return 0
    fi
    echo "$label: installing$missing"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >"$log" 2>&1 ||
        { apt-get update -q >>"$log" 2>&1 &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >>"$log" 2>&1; } ||
        echo "$label: could not install$missing; the tests that need them will fail"
}

# junit_counts XML - print "PASSED FAILED" from a pytest JUnit report. Errors
# and skips count as failures (a skipped test proved nothing); a missing or
# unreadable report, or one with no tests (pytest died), counts as one failure.
junit_counts() {
    "$PY" - "$1" <<'PYEND'
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
}

# pytest_counts DIR XML - run pytest on DIR (its own rootdir), the report in
# XML; print "PASSED FAILED" as the last line of output.
pytest_counts() {
    "$PY" -m pytest -q --tb=short -p no:cacheprovider --rootdir "$1" --junitxml "$2" "$1" >&2
    junit_counts "$2"
}
