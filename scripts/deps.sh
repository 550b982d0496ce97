#!/bin/sh
# deps.sh build|test|man - install what statesnap needs on Debian 12, when missing.
# Installs with apt-get only when run as root; otherwise names what is missing.
set -eu

BUILD_PKGS="build-essential pkg-config libmicrohttpd-dev libzip-dev zlib1g-dev libjansson-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev python3"
TEST_PKGS="libcmocka-dev python3-pytest python3-requests python3-jsonschema python3-yaml zip unzip coreutils sqlite3 valgrind prometheus npm chromium clang libclang-rt-14-dev help2man zsh"
# scripts/man.sh (the man page): not needed to build the binary.
MAN_PKGS="help2man"

want="$BUILD_PKGS"
[ "${1:-build}" = test ] && want="$BUILD_PKGS $TEST_PKGS"
[ "${1:-build}" = bench ] && want="$BUILD_PKGS ${BENCH_PKGS:-}"
[ "${1:-build}" = man ] && want="$MAN_PKGS"

missing=""
for p in $want; do
    # npm may come with a Node.js that is not Debian's (it conflicts with the
    # npm package); the command being there is what counts.
    if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then
        continue
    fi
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "statesnap: missing Debian packages:$missing" >&2
    echo "statesnap: run as root (or: sudo apt-get install$missing)" >&2
    exit 1
fi
echo "statesnap: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# One update per machine is enough; a stale list makes the install fail, so retry once after an update.
if ! apt-get install -y -q --no-install-recommends $missing >/tmp/statesnap-apt.log 2>&1; then
    apt-get update -q >>/tmp/statesnap-apt.log 2>&1
    apt-get install -y -q --no-install-recommends $missing >>/tmp/statesnap-apt.log 2>&1 || {
        tail -20 /tmp/statesnap-apt.log >&2
        exit 1
    }
fi
