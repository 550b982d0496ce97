#!/bin/sh
# run-demo.sh - `make run`: serve the dashboard + API on 127.0.0.1:8080.
# Uses ./statesnap.json when it exists; otherwise generates a demo state root
# under ./demo (once) and serves it with a store beside it.
set -eu
cd "$(dirname "$0")/.."
BIN=build/statesnap
LISTEN=${STATESNAP_LISTEN:-127.0.0.1:8080}

if [ -f statesnap.json ]; then
    echo "statesnap: using ./statesnap.json"
    echo "statesnap: dashboard and API at http://$LISTEN/"
    exec "$BIN" --config statesnap.json serve --listen "$LISTEN"
fi

if [ ! -d demo/root ]; then
    echo "statesnap: generating a demo state root in demo/root"
    python3 tests/fixtures/make_state.py --out demo/root --git --seed 7 >/dev/null
fi
if ! "$BIN" --root demo/root --store demo/snapshots list --json 2>/dev/null | grep -q '"name"'; then
    "$BIN" --root demo/root --store demo/snapshots create --name demo_first --label reason=demo >/dev/null
fi
echo "statesnap: demo state root demo/root, store demo/snapshots"
echo "statesnap: dashboard and API at http://$LISTEN/  (Ctrl-C stops)"
exec "$BIN" --root demo/root --store demo/snapshots serve --listen "$LISTEN"
