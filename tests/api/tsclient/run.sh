#!/bin/sh
# run.sh [NAME] - generate a TypeScript client from openapi.yaml with openapi-typescript's
# default options, type-check client.ts against it (tsc --noEmit, strict), and, when
# STATESNAP_URL is set, compile and run it against that server (create NAME, list, latest,
# restore preview and apply). Installs the pinned npm packages (package-lock.json) itself.
set -eu
cd "$(dirname "$0")"
export NO_UPDATE_NOTIFIER=1 npm_config_fund=false npm_config_audit=false
stale=
for pkg in openapi-typescript openapi-fetch typescript; do
    want=$(node -e 'console.log(require("./package-lock.json").packages["node_modules/" + process.argv[1]].version)' "$pkg")
    have=$(node -e 'try { console.log(require("./node_modules/" + process.argv[1] + "/package.json").version) } catch (e) { console.log("") }' "$pkg")
    [ "$want" = "$have" ] || stale="$stale $pkg@$want"
done
if [ -n "$stale" ]; then
    echo "tsclient: npm ci ($stale )" >&2
    npm ci --no-audit --no-fund --loglevel=error >&2
fi
rm -rf gen out
mkdir gen
./node_modules/.bin/openapi-typescript ../../../openapi.yaml -o gen/schema.d.ts >&2
./node_modules/.bin/tsc --noEmit -p tsconfig.json >&2
if [ -n "${STATESNAP_URL:-}" ]; then
    ./node_modules/.bin/tsc -p tsconfig.json >&2
    node out/client.js "$@"
fi
