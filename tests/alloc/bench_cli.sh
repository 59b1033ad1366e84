#!/usr/bin/env bash
# `loam bench alloc` end to end on a small fleet: one JSON object with the
# contract's keys and no over-commit; bad arguments are refused with exit 2
# and a message naming the flag. `loam bench` is an alias of loam-bench,
# found next to loam or else on PATH; loam itself links no database
# library. Figures are printed, never asserted.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bin=${LOAM_BIN_DIR:?}
loam=$bin/loam
work=$(mktemp -d /tmp/loam-benchcli-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
# Our own TMPDIR, so that the check for leftovers sees this run's only.
mkdir "$work/tmp"
export TMPDIR=$work/tmp

out=$("$loam" bench alloc --hosts 60 --vms 400 --baseline-vms 100 --clients 2)
expect "bench alloc exits 0" 0 $?
echo "$out"
if python3 - "$out" <<'PY'; then ok; else bad "bench alloc's JSON"; fi
import json, sys
j = json.loads(sys.argv[1])
for k in ("hosts", "vms", "clients", "db", "loam", "baseline", "ratio", "overcommits"):
    assert k in j, k
for run in ("loam", "baseline"):
    for k in ("placements_per_s", "p50_us", "p99_us", "placed"):
        assert k in j[run], (run, k)
assert j["baseline"]["ran"] == 100, j["baseline"]
assert j["overcommits"] == 0, j
assert j["loam"]["placed"] > 0 and j["loam"]["errors"] == 0, j["loam"]
PY
for args in "--hosts -5" "--vms 0" "--clients x" "--hosts" "--bogus 1"; do
	# shellcheck disable=SC2086
	err=$("$loam" bench alloc $args 2>&1 >/dev/null)
	expect "bench alloc $args exits 2" 2 $?
	nonempty "bench alloc $args prints an error" "$err"
done
if compgen -G "$TMPDIR/loam-bench-*" >/dev/null; then bad "temp dir left behind"; else ok; fi

# ---- loam bench is loam-bench: same fleet for a seed, same status ----
a=$("$loam" bench alloc --hosts 20 --vms 50 --seed 7 | jq -c '[.loam.placed, .loam.no_capacity]')
b=$("$bin/loam-bench" alloc --hosts 20 --vms 50 --seed 7 | jq -c '[.loam.placed, .loam.no_capacity]')
expect "loam bench and loam-bench place the same fleet alike" "$b" "$a"
"$loam" bench nosuch 2>"$work/err"
expect "an unknown benchmark exits 2" 2 $?
contains "it lists the benchmarks" "alloc" "$(cat "$work/err")"
cp "$loam" "$work/loam"
PATH=$bin:$PATH "$work/loam" bench alloc --hosts 5 --vms 5 >/dev/null
expect "loam bench finds loam-bench on PATH" 0 $?
PATH=/usr/bin:/bin "$work/loam" bench alloc --hosts 5 --vms 5 2>"$work/err" >/dev/null
expect "loam bench without loam-bench exits 1" 1 $?
contains "it says where it looked" "loam-bench" "$(cat "$work/err")"
libs=$(ldd "$loam")
if [[ $libs == *libsqlite3* || $libs == *libpq* ]]; then bad "loam links a database library"; else ok; fi

finish
