#!/usr/bin/env bash
# Runs a test program with a throwaway PostgreSQL cluster (tests/pg.sh):
#   with_pg.sh PROGRAM ARGS...
# The program finds the cluster in $LOAM_TEST_PG_URL and runs its
# PostgreSQL cases (LOAM_TEST_PG_ONLY=1: the plain run covers SQLite).
set -euo pipefail
source "$(dirname "$0")/pg.sh"
loam_pg_start
export LOAM_TEST_PG_ONLY=1
"$@"
