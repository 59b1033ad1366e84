#!/usr/bin/env bash
# Runs the upgrade and GC test (upgrade_test.py) against a real loamd on
# SQLite with a synthetic artifact store; everything lives in temp dirs.
set -uo pipefail
exec python3 "$(dirname "$0")/upgrade_test.py" "$@"
