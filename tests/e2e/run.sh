#!/usr/bin/env bash
# run.sh BIN - the dashboard's browser suite: starts the real statesnap BIN (serve) on a free
# loopback port with a temp store, a generated state root and read/write/admin tokens, drives
# Debian's chromium with playwright-core (tests/e2e/dashboard.mjs) and ends with
# "E2E: N passed, M failed". Exits non-zero on any failure. Installs what it needs itself.
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$(pwd)
E2E=$ROOT/tests/e2e
PY=/usr/bin/python3

# finish PASSED FAILED - the summary line, always the last one printed.
finish() {
    echo "E2E: $1 passed, $2 failed"
    [ "$2" -eq 0 ] && [ "$1" -gt 0 ]
    exit $?
}

if [ $# -ne 1 ]; then
    echo "usage: tests/e2e/run.sh BIN" >&2
    exit 2
fi
case "$1" in
    /*) BIN=$1 ;;
    *) BIN=$ROOT/$1 ;;
esac
if [ ! -x "$BIN" ]; then
    echo "e2e: $BIN is not an executable file"
    finish 0 1
fi

# apt_install PKG... - as root, install Debian packages (refreshing the lists once if needed).
apt_install() {
    [ "$(id -u)" -eq 0 ] || return 1
    echo "e2e: installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
        >/tmp/statesnap-e2e-apt.log 2>&1 ||
        { apt-get update -q >>/tmp/statesnap-e2e-apt.log 2>&1 &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
              >>/tmp/statesnap-e2e-apt.log 2>&1; }
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm || { echo "e2e: node and npm are missing and could not be installed"; finish 0 1; }
fi
if [ ! -x /usr/bin/chromium ]; then
    apt_install chromium || { echo "e2e: /usr/bin/chromium is missing and could not be installed"; finish 0 1; }
fi
# playwright-core and axe-core from the npm registry, at the versions package-lock.json pins.
# Never "playwright install": the browser is Debian's chromium.
# pinned PKG - "want have" versions of PKG (lock file, node_modules).
pinned() {
    node -e 'const l = require(process.argv[1]).packages["node_modules/" + process.argv[3]];
             let h = ""; try { h = require(process.argv[2] + "/" + process.argv[3] + "/package.json").version; } catch (e) {}
             console.log((l ? l.version : "") + " " + h)' "$E2E/package-lock.json" "$E2E/node_modules" "$1" 2>/dev/null
}
stale=
for pkg in playwright-core axe-core; do
    set -- $(pinned "$pkg")
    if [ -z "${1:-}" ] || [ "${1:-}" != "${2:-}" ]; then stale="$stale $pkg@${1:-?}"; fi
done
if [ -n "$stale" ]; then
    echo "e2e: npm ci ($stale )"
    (cd "$E2E" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) ||
        { echo "e2e: npm ci failed"; finish 0 1; }
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/statesnap-e2e.XXXXXX") || exit 1
SPID=
cleanup() {
    if [ -n "$SPID" ]; then
        kill "$SPID" 2>/dev/null
        wait "$SPID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# A small state root (a git repository, so snapshots carry a commit): fast to snapshot.
if ! "$PY" "$ROOT/tests/fixtures/make_state.py" --out "$TMP/root" --git --chain-lines 300 \
        --idem-keys 50 --pnl-days 30 >"$TMP/make_state.log" 2>&1; then
    cat "$TMP/make_state.log"
    finish 0 1
fi

rand_token() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }
TOKEN_READ=$(rand_token)
TOKEN_ADMIN=$(rand_token)
TOKEN_WRITE=$(rand_token)

STATESNAP_TOKEN_READ=$TOKEN_READ STATESNAP_TOKEN_WRITE=$TOKEN_WRITE STATESNAP_TOKEN_ADMIN=$TOKEN_ADMIN \
    "$BIN" --root "$TMP/root" --store "$TMP/store" serve --listen 127.0.0.1:0 \
    --port-file "$TMP/port" --static-dir "$ROOT/static" >"$TMP/server.log" 2>&1 &
SPID=$!
for _ in $(seq 1 100); do
    [ -s "$TMP/port" ] && break
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.1
done
if [ ! -s "$TMP/port" ]; then
    echo "e2e: the server did not start:"
    tail -20 "$TMP/server.log"
    finish 0 1
fi
PORT=$(tr -d '[:space:]' <"$TMP/port")

mkdir -p "$E2E/screenshots"
E2E_BASE="http://127.0.0.1:$PORT" E2E_ROOT="$TMP/root" E2E_STORE="$TMP/store" \
E2E_TOKEN_READ=$TOKEN_READ E2E_TOKEN_WRITE=$TOKEN_WRITE E2E_TOKEN_ADMIN=$TOKEN_ADMIN \
E2E_MAKE_STATE="$ROOT/tests/fixtures/make_state.py" E2E_SHOTS="$E2E/screenshots" \
E2E_RESULT="$TMP/result" E2E_TMP="$TMP" E2E_BIN="$BIN" \
    node "$E2E/dashboard.mjs"
rc=$?

if [ -s "$TMP/result" ]; then
    read -r passed failed <"$TMP/result"
else
    echo "e2e: dashboard.mjs (exit $rc) wrote no result"
    passed=0
    failed=1
fi
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
fi
if [ "$failed" -ne 0 ]; then
    echo "e2e: last lines of the server log:"
    tail -15 "$TMP/server.log" | cut -c1-300
fi
kill "$SPID" 2>/dev/null
wait "$SPID" 2>/dev/null
SPID=
finish "$passed" "$failed"
