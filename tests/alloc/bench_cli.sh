#!/usr/bin/env bash
# `loam bench alloc` end to end on a small fleet: one JSON object with the
# contract's keys and no over-commit; bad arguments are refused with exit 2
# and a message naming the flag. Figures are printed, never asserted.
set -euo pipefail
loam=${LOAM_BIN_DIR:?}/loam
fail=0
out=$("$loam" bench alloc --hosts 60 --vms 400 --baseline-vms 100 --clients 2)
echo "$out"
python3 - "$out" <<'PY' || fail=1
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
	if err=$("$loam" bench alloc $args 2>&1 >/dev/null); then
		echo "FAIL: bench alloc $args succeeded"; fail=1
	else
		rc=$?
		[[ $rc -eq 2 ]] || { echo "FAIL: bench alloc $args exited $rc, want 2"; fail=1; }
		[[ -n $err ]] || { echo "FAIL: bench alloc $args printed no error"; fail=1; }
	fi
done
compgen -G "/tmp/loam-bench.*" >/dev/null && { echo "FAIL: temp dir left behind"; fail=1; }
[[ $fail -eq 0 ]] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $fail
