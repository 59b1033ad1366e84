#!/usr/bin/env bash
# Runs test_upgrade_unit on a throwaway PostgreSQL cluster (tests/with_pg.sh
# starts and removes it), so that the GC and pick SQL is checked on both
# backends.
set -euo pipefail
here="$(dirname "$0")"
exec bash "$here/../with_pg.sh" "${LOAM_BIN_DIR:?}/../tests/test_upgrade_unit"
