#!/bin/sh
# lint-openapi.sh - check openapi.yaml with Redocly's recommended rules (errors fail).
set -eu
cd "$(dirname "$0")/../.."
export NO_UPDATE_NOTIFIER=1 REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
exec npx --yes @redocly/cli@2.77.0 lint --format=stylish openapi.yaml
