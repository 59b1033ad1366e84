#!/usr/bin/env bash
# `loam bench boot` end to end (issue 6), which runs `loam-bench boot` (the
# benchmarks' own binary, next to loam): with no loamd answering, it starts
# its own in a temp dir, cloudifies this machine with arm64 emulated, boots
# a real arm64 guest through loam and then the same QEMU argv directly, and
# prints one JSON object whose figures agree with each other. Afterwards
# its temp dir, VMs and QEMU processes are gone. Bad arguments are refused
# before anything starts. No timing threshold: the figures are only checked
# for consistency. Skips (77) when the artifact store has not been built.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bin=${LOAM_BIN_DIR:?}
store=${LOAM_SOURCE_DIR:?}/build/artifacts/store
require_store "$store"
check() { if jq -e "$2" <<<"$out" >/dev/null; then ok; else bad "$1: $2 is false in $out"; fi; }

work=$(mktemp -d /tmp/loam-benchboot-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
# Nothing answers on this port, so the bench starts (and removes) its own loamd.
port=$(free_port)
export LOAM_URL=http://127.0.0.1:$port LOAM_STATE_DIR=$work
unset LOAM_TOKEN

# ---- bad arguments: refused with status 2, nothing started ----
for args in "--arch sparc" "--arch armhf" "--arch x64 --size huge" "--arch x64 --runs 0" \
	"--arch x64 --runs 51" "--arch x64 --settle -1" "--runs 2"; do
	# shellcheck disable=SC2086
	"$bin/loam" bench boot $args >"$work/bad.out" 2>"$work/bad.err"
	expect "bench boot $args exits 2" 2 $?
	expect "bench boot $args prints nothing on stdout" 0 "$(wc -c <"$work/bad.out")"
done
"$bin/loam-bench" boot --arch sparc >"$work/bad.out" 2>"$work/bad.err"
expect "loam-bench boot --arch sparc exits 2" 2 $?
contains "it names the arch" "sparc" "$(cat "$work/bad.err")"
expect "no loamd was started for bad arguments" 0 "$(find /tmp -maxdepth 1 -newer "$work" -name 'loam-bench-boot.*' | wc -l)"

# ---- one real pair, arm64 through the fast path; 'aarch64' is accepted ----
out=$("$bin/loam" bench boot --arch aarch64 --direct-kernel --runs 2 --settle 0 2>"$work/err")
rc=$?
expect "bench boot exits 0" 0 "$rc"
[[ $rc -eq 0 ]] || cat "$work/err" >&2
check "arch is canonical" '.arch == "arm64"'
check "boot path" '.boot == "direct-kernel"'
check "two runs" '.runs == 2 and (.loam_ms | length) == 2 and (.direct_ms | length) == 2'
check "both figures are positive" '.loam_p50_ms > 0 and .direct_p50_ms > 0'
check "p50 of two runs is their mean" \
	'.loam_p50_ms == ((.loam_ms | add) / 2 | floor) and .direct_p50_ms == ((.direct_ms | add) / 2 | floor)'
check "ratio is loam / direct" '((.ratio - .loam_p50_ms / .direct_p50_ms) | fabs) < 0.001'
check "goal is 1.10" '.goal_ratio == 1.1'
check "overhead is measured and smaller than the boot" \
	'[range(2) as $i | .overhead_ms[$i] >= 0 and .overhead_ms[$i] < .loam_ms[$i]] | all'
check "overhead ratio is direct plus overhead over direct" \
	'((.overhead_ratio - (.direct_p50_ms + .loam_overhead_p50_ms) / .direct_p50_ms) | fabs) < 0.001'
expect "each run is reported on stderr" 2 "$(grep -c 'bench boot: run [12]: loam' "$work/err")"

# ---- it leaves nothing behind ----
own=$(sed -n 's/.*started one in \([^ ;]*\).*/\1/p' "$work/err" | head -n1)
if [[ -n $own ]]; then
	expect "its own loamd's dir is removed" 0 "$(ls -d "$own" 2>/dev/null | wc -l)"
	expect "no QEMU of it is left" 0 "$(pgrep -f -c "$own/")"
	expect "no loamd of it is left" 0 "$(pgrep -f -c -- "--state-dir $own")"
else
	bad "the bench did not say where it started its own loamd"
fi

finish
