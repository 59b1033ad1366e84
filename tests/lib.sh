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

# use_test_key DIR: points HOME at DIR/home, holding a fresh ed25519 key
# pair (.ssh/id_ed25519 and .pub): the key `loam vm create` gives a VM when
# no --ssh-key is named (the private key logs in to it).
use_test_key() {
	mkdir -p "$1/home/.ssh" && chmod 700 "$1/home/.ssh" || return 1
	[[ -f $1/home/.ssh/id_ed25519 ]] ||
		ssh-keygen -q -t ed25519 -N '' -C loam-test -f "$1/home/.ssh/id_ed25519" </dev/null ||
		{ bad "ssh-keygen failed"; return 1; }
	export HOME=$1/home
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

# Live (non-zombie) processes of a uid. PID 1 here may not reap orphans,
# so a killed QEMU can linger as a zombie; that is not a running process.
live_procs_of() { # uid [name prefix: qemu-system, qemu-storage]
	local n=0 f
	for f in /proc/[0-9]*/status; do
		awk -v u="$1" -v p="${2:-}" '/^Name:/{c=$2} /^State:/{s=$2} /^Uid:/{id=$2}
			END{exit !(id==u && s!="Z" && index(c, p)==1)}' "$f" 2>/dev/null && n=$((n + 1))
	done
	echo $n
}

# Runs "$1 ARCH FW_CODE FW_VARS" for each arch in $LOAM_VMRUN_ARCHES
# (default: both), with Debian's UEFI firmware for it.
each_vm_arch() {
	local arches=" ${LOAM_VMRUN_ARCHES:-x64 arm64} "
	if [[ $arches == *" x64 "* ]]; then
		"$1" x64 /usr/share/OVMF/OVMF_CODE.fd /usr/share/OVMF/OVMF_VARS.fd
	fi
	if [[ $arches == *" arm64 "* ]]; then
		"$1" arm64 /usr/share/AAVMF/AAVMF_CODE.fd /usr/share/AAVMF/AAVMF_VARS.fd
	fi
}

# jget KEY: the value of KEY in the JSON object on stdin (strings bare,
# anything else as JSON).
jget() { python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(v if isinstance(v,str) else json.dumps(v))' "$1"; }

# store_unpack STORE DEST COMPONENT NAME ARCH: the newest tarball entry of
# the store's manifest for them, checked against its digest and unpacked
# under DEST/ARCH/NAME (made readable to the VM users); prints that dir.
store_unpack() {
	local store=$1 dest=$2 entry path sum dir=$2/$5/$4
	shift 2
	entry=$(python3 -c 'import json,sys
m = json.load(open(sys.argv[1]))
e = [e for e in m["entries"] if e["component"] == sys.argv[2] and e["name"] == sys.argv[3]
     and e["arch"] == sys.argv[4] and e.get("kind") == "tarball"]
print(e[-1]["path"], e[-1]["sha256"]) if e else None' "$store/manifest.json" "$@")
	[[ -n $entry ]] || { bad "no $1 $2 for $3 in $store/manifest.json"; return 1; }
	read -r path sum <<<"$entry"
	[[ $(sha256sum "$store/$path" | cut -c1-64) == "$sum" ]] ||
		{ bad "$store/$path does not match its manifest digest"; return 1; }
	mkdir -p "$dir" && tar xzf "$store/$path" -C "$dir" && chmod -R a+rX "$dest"
	echo "$dir"
}

finish() {
	echo "$passes passed, $fails failed"
	((fails == 0))
	exit
}
