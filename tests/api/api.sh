#!/usr/bin/env bash
# Runs the API/CLI integration tests (api_test.py) against a real loamd on
# SQLite; the fixture picks a free port and a temp state dir.
set -uo pipefail
exec python3 "$(dirname "$0")/api_test.py" "$@"
