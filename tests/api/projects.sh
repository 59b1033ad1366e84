#!/usr/bin/env bash
# Projects, scoped tokens and quotas through a real loamd and the CLI
# (projects_test.py), on SQLite.
set -uo pipefail
exec python3 "$(dirname "$0")/projects_test.py" "$@"
