#!/bin/sh
# lint-openapi.sh - check openapi.yaml with Redocly's recommended-strict rules (every
# warning of the recommended set is an error there; any error fails).
# Redocly CLI 2.x needs Node >= 20; on an older Node (Debian 12 ships 18) the 1.34
# line, which the issue accepts too, does the same check.
set -eu
cd "$(dirname "$0")/../.."
if ! command -v npx >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "lint-openapi: installing npm" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm \
            >/tmp/statesnap-apt-npm.log 2>&1 ||
            { apt-get update -q >>/tmp/statesnap-apt-npm.log 2>&1 &&
              DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm \
                  >>/tmp/statesnap-apt-npm.log 2>&1; }
    else
        echo "lint-openapi: npx (Debian package npm) is missing" >&2
        exit 1
    fi
fi
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
version=2.77.0
[ "$major" -ge 20 ] || version=1.34.20
export NO_UPDATE_NOTIFIER=1 REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
exec npx --yes "@redocly/cli@$version" lint --extends=recommended-strict --format=stylish openapi.yaml
