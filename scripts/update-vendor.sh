#!/usr/bin/env bash
# Refreshes the vendored browser assets in registry/static/vendor from the npm registry.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "chart.js@${CHARTJS_VERSION:-4.6.1}" >/dev/null && tar xzf chart.js-*.tgz)
cp "$tmp/package/dist/chart.umd.min.js" registry/static/vendor/chart.umd.min.js
