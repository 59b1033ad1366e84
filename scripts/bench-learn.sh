#!/usr/bin/env bash
# Benchmark (not a test): how long `loam-host learn` takes on this machine,
# process start included. Runs it RUNS times (default 50) on a temp storage
# dir and prints one JSON object: median and p90 in ms, the goal of issue 2
# (50 ms) and ratio = median / goal (below 1 meets the goal).
#   scripts/bench-learn.sh [BIN]     default build/bin/loam-host
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/bin/loam-host}
runs=${RUNS:-50}
goal_ms=50
[[ -x $bin ]] || { echo "bench-learn: $bin missing (run make)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$bin" learn --storage-dir "$tmp/storage" >/dev/null # warm the page cache
for ((i = 0; i < runs; i++)); do
	start=$EPOCHREALTIME
	"$bin" learn --storage-dir "$tmp/storage" >/dev/null
	end=$EPOCHREALTIME
	echo "$start $end"
done | awk '{ printf "%.3f\n", ($2 - $1) * 1000 }' | sort -n >"$tmp/ms"

awk -v goal="$goal_ms" -v bin="$bin" '
	{ ms[NR] = $1 }
	END {
		n = NR
		median = n % 2 ? ms[(n + 1) / 2] : (ms[n / 2] + ms[n / 2 + 1]) / 2
		p90 = ms[int(0.9 * n + 0.999999)]
		printf "{\"benchmark\": \"learn\", \"binary\": \"%s\", \"runs\": %d, ", bin, n
		printf "\"median_ms\": %.3f, \"p90_ms\": %.3f, \"min_ms\": %.3f, \"max_ms\": %.3f, ", median, p90, ms[1], ms[n]
		printf "\"goal_ms\": %d, \"ratio\": %.4f}\n", goal, median / goal
	}' "$tmp/ms"
