#!/usr/bin/env bash
# The crash harness's full tier for `make torture` (scripts/torture.sh calls
# it): tests/crash/harness.sh with 100 kills (or $1) against the sanitizer
# build in build/check. Its last two lines are the summary ("crash harness:
# kills survived N ...; lost N, re-created N, stranded N, over-commits N, ...")
# and "N passed, N failed"; LOAM_CRASH_RESULT=FILE also gets the summary.
# Exit status: the harness's (0 all passed, 77 no artifact store).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export LOAM_BIN_DIR=${LOAM_BIN_DIR:-$PWD/build/check/bin} LOAM_SOURCE_DIR=$PWD
out=$(mktemp /tmp/loam-crash-out.XXXXXX)
trap 'rm -f "$out"' EXIT
bash tests/crash/harness.sh "${1:-100}" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
[[ -n ${LOAM_CRASH_RESULT:-} ]] && grep '^crash harness:' "$out" >"$LOAM_CRASH_RESULT"
exit "$rc"
