#!/usr/bin/env bash
# The API/CLI integration tests (api_test.py) against a real loamd on a
# throwaway PostgreSQL cluster (tests/with_pg.sh starts and removes it).
set -uo pipefail
here=$(dirname "$0")
exec "$here/../with_pg.sh" python3 "$here/api_test.py" --pg
