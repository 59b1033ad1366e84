#!/usr/bin/env bash
# Runs a test program with a throwaway PostgreSQL cluster (tests/pg.sh):
#   with_pg.sh PROGRAM ARGS...
# The program finds the cluster in $LOAM_TEST_PG_URL and runs its cases
# against both SQLite and PostgreSQL.
set -euo pipefail
source "$(dirname "$0")/pg.sh"
loam_pg_start
"$@"
