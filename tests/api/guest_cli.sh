#!/usr/bin/env bash
# Runs guest_cli_test.py (vm create's images, keys and user; image ls; vm
# show's host keys) against a real loamd on SQLite.
set -uo pipefail
exec python3 "$(dirname "$0")/guest_cli_test.py" "$@"
