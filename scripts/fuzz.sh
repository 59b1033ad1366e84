#!/usr/bin/env bash
# Runs libFuzzer targets from build/check/fuzz.
#   scripts/fuzz.sh --one BIN   one target for FUZZ_SECONDS (default 5), from
#                               its committed corpus; new inputs go to a temp
#                               dir (this is what CTest runs in make check)
#   scripts/fuzz.sh             every target for FUZZ_SECONDS (make fuzz: 60),
#                               adding new inputs to the committed corpora
# A target's dictionary (field names, options), if any, is fuzz/dict/NAME.dict.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-5}

run_one() { # bin, keep_new
	local bin=$1 name corpus out
	name=$(basename "$bin")
	corpus=fuzz/corpus/$name
	mkdir -p "$corpus"
	if [[ $2 == keep ]]; then
		out=$corpus
	else
		out=$(mktemp -d)
		trap 'rm -rf "$out"' RETURN
	fi
	local artifacts dict=()
	[[ -f fuzz/dict/$name.dict ]] && dict=(-dict="fuzz/dict/$name.dict")
	artifacts=$(mktemp -d)
	echo "fuzz: $name for ${secs}s"
	if ! "$bin" "${dict[@]}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$artifacts/" -print_final_stats=1 "$out" "$corpus" 2>"$artifacts/log"; then
		tail -40 "$artifacts/log" >&2
		echo "fuzz: $name found a crash; inputs in $artifacts" >&2
		return 1
	fi
	grep -E '^stat::number_of_executed_units' "$artifacts/log" | sed "s/^/fuzz: $name /"
	rm -rf "$artifacts"
}

if [[ ${1:-} == --one ]]; then
	run_one "$2" temp
	exit
fi
status=0
for bin in build/check/fuzz/*; do
	[[ -x $bin ]] || continue
	run_one "$bin" keep || status=1
done
exit $status
