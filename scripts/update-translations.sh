#!/usr/bin/env bash
# Extracts every marked string and merges it into the catalogs; then translate the new entries in
# registry/translations/ja/LC_MESSAGES/messages.po (tests fail while one is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/pybabel extract -F babel.cfg -k _l -k N_ --no-location --sort-output -o registry/translations/messages.pot .
.venv/bin/pybabel update -i registry/translations/messages.pot -d registry/translations --no-fuzzy-matching
