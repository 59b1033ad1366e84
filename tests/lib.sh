# Shared helpers of the shell tests, sourced (never run) by each script:
#   . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# Every script counts its checks with ok/bad and ends with `finish`, which
# prints the closing line CTest's output is read for ("N passed, N failed")
# and exits non-zero when anything failed.
# shellcheck shell=bash

fails=0 passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
expect() { # what, want, got
	if [[ $2 == "$3" ]]; then ok; else bad "$1: want '$2', got '$3'"; fi
}
contains() { # what, needle, haystack
	if [[ $3 == *"$2"* ]]; then ok; else bad "$1: '$2' not in '$3'"; fi
}
nonempty() { # what, value (JSON null counts as empty)
	if [[ -n $2 && $2 != null ]]; then ok; else bad "$1: empty"; fi
}

# A TCP port on the loopback that nothing listens on right now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Skips the test (77) when the artifact store at $1 has not been built.
require_store() {
	if [[ ! -f $1/manifest.json ]]; then
		echo "SKIP: no artifact store at $1; run make artifacts"
		exit 77
	fi
}

# until_true SECONDS WHAT CMD...: polls CMD every second; bad after SECONDS.
until_true() {
	local limit=$1 what=$2
	shift 2
	for ((i = 0; i < limit; i++)); do
		"$@" && return 0
		sleep 1
	done
	bad "timed out after ${limit}s waiting for $what"
	return 1
}

# Stops the test's loamd (pid, may be empty), purges every VM its local
# host's agent made under the state dir, and removes the dir.
purge_loam_state() { # STATE_DIR LOAMD_PID
	local state=$1 agent d
	[[ -n $2 ]] && kill "$2" 2>/dev/null && wait "$2" 2>/dev/null
	agent=$(ls "$state"/host/agent/*/loam-host 2>/dev/null | head -n1)
	for d in "$state"/host/vms/*/; do
		[[ -d $d && -n $agent ]] && "$agent" vm-purge "$(basename "$d")" --state-dir "$state/host" >/dev/null 2>&1
	done
	rm -rf "$state"
}

finish() {
	echo "$passes passed, $fails failed"
	((fails == 0))
	exit
}
