#!/usr/bin/env bash
# projects_test.py against a real loamd on a throwaway PostgreSQL cluster
# (tests/with_pg.sh starts and removes it).
set -uo pipefail
here=$(dirname "$0")
exec "$here/../with_pg.sh" python3 "$here/projects_test.py" --pg
