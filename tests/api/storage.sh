#!/usr/bin/env bash
# Storage faults under a running loamd (storage_test.py): the database file
# deleted or replaced; with --disk-full, a full disk (a tmpfs; root).
set -uo pipefail
exec python3 "$(dirname "$0")/storage_test.py" "$@"
