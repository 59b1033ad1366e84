#!/usr/bin/env bash
# Side-by-side VMM versions with real guests (issue 14 items 3 and 4
# acceptance), through loamd on the local host, x64 guests booted by direct
# kernel under TCG from the pinned QEMU bundles of the artifact store:
#   - the store first releases QEMU 7.2 only: VM A runs 7.2 (/proc/PID/exe
#     is the bundle's binary);
#   - the release adds 10.0 and `host upgrade --wait` installs it beside
#     7.2: VM B runs 10.0, A still 7.2, also after a stop and start;
#   - drain 10.0: a new VM C takes 7.2 while B stays pinned to 10.0;
#   - GC keeps 7.2 while A pins it; `vm upgrade A` and a restart: A runs
#     10.0; GC then removes 7.2: loamd is killed between the files and the
#     rows (fault point gc-after-uninstall), and the next GC finishes.
# Temp state dir and store copy, free port, everything purged on exit.
# Skips (77) when the artifact store has not been built (make artifacts).
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bin=${LOAM_BIN_DIR:?}
src_store=${LOAM_ARTIFACT_STORE:-${LOAM_SOURCE_DIR:?}/build/artifacts/store}
dist=${LOAM_DIST_DIR:-${LOAM_SOURCE_DIR}/build/dist}
require_store "$src_store"

state=$(mktemp -d /tmp/loam-vmversions.XXXXXX)
# `vm create` gives the VMs this key (~/.ssh/id_ed25519.pub under HOME)
use_test_key "$state" || exit 1
chmod 0755 "$state"
store=$state/store
port=$(free_port)
export LOAM_URL=http://127.0.0.1:$port LOAM_STATE_DIR=$state
loamd_pid=
trap 'purge_loam_state "$state" "$loamd_pid"' EXIT

loam() { "$bin/loam" "$@"; }
vm_field() { loam vm show "$1" --json 2>/dev/null | jq -r "$2"; }
vm_state_is() { [[ $(vm_field "$1" .state) == "$2" ]]; }
host_accepting() { [[ $(loam host show local --json 2>/dev/null | jq -r .state) == accepting ]]; }
# The binary the VM's QEMU runs, from /proc/PID/exe.
vmm_exe() {
	local id pid
	id=$(vm_field "$1" .id)
	pid=$(cat "$state/host/vms/$id/run/qemu.pid" 2>/dev/null)
	[[ $pid =~ ^[0-9]+$ ]] && readlink "/proc/$pid/exe"
}
vm_vmm() { vm_field "$1" '.artifacts[] | select(.component=="vmm") | .version'; }
vmm_rows() { # "version:weight:vms ..." of the host's x64 VMM versions
	loam artifact ls --json | jq -r '[.[] | select(.component=="vmm" and .arch=="x64")
		| "\(.version):\(.weight):\(.vms)"] | sort | join(" ")'
}
boot() { # NAME: creates an x64 VM (direct kernel) and waits until it runs
	loam vm create "$1" --arch x64 --size standard-2 --image loam-tiny --boot kernel --wait >/dev/null 2>"$state/$1.err" ||
		bad "create $1: $(tail -n 3 "$state/$1.err")"
}
restart() { # NAME
	loam vm stop "$1" >/dev/null || bad "stop $1"
	until_true 120 "$1 stopped" vm_state_is "$1" stopped
	loam vm start "$1" >/dev/null || bad "start $1"
	until_true 300 "$1 running again" vm_state_is "$1" running
}

# The two QEMU lines of this host's arch, oldest first as the store lists them.
mapfile -t versions < <(jq -r '[.entries[] | select(.component=="vmm" and .arch=="x64")
	| .version] | unique_by(split(".")[0] | tonumber) | .[]' "$src_store/manifest.json")
[[ ${#versions[@]} -eq 2 ]] || { bad "the store has no two x64 VMM versions: ${versions[*]}"; finish; }
old=${versions[0]} new=${versions[1]}
contains "the old line is QEMU 7.2" "7.2" "$old"
contains "the new line is QEMU 10.0" "10.0" "$new"

# A copy of the store (loamd serves only files inside it) whose release
# lists everything but the new line; the full manifest comes later.
cp -r "$src_store" "$store"
jq --arg v "$new" '.entries |= map(select(.version != $v))' "$src_store/manifest.json" \
	>"$store/manifest.json"

loamd_up() { loam sizes >/dev/null 2>&1; }
start_loamd() { # [LOAM_FAULT spec]
	LOAM_FAULT=${1:-} "$bin/loamd" --state-dir "$state" --listen "127.0.0.1:$port" \
		--dist-dir "$dist" --artifact-store "$store" >>"$state/loamd.log" 2>&1 &
	loamd_pid=$!
	until_true 30 "loamd" loamd_up
}
start_loamd || finish
loam host add --local >/dev/null || bad "host add --local"
loam host set local --allow-tcg --cpu-overcommit 4 >/dev/null || bad "host set"
until_true 300 "host accepting" host_accepting || finish
expect "only the old VMM installed" "$old:100:0" "$(vmm_rows)"

# ---- A on the old version ----
boot a
expect "A pins the old VMM" "$old" "$(vm_vmm a)"
contains "A runs the old bundle's binary" "/vmm/qemu/$old/x64/bin/qemu-system-x86_64" "$(vmm_exe a)"

# ---- the release adds the new line; the host installs it beside ----
cp "$src_store/manifest.json" "$store/manifest.json"
out=$(loam host upgrade local --wait 2>&1) || bad "host upgrade: $out"
contains "host upgrade installs the new VMM" "installed vmm qemu $new" "$out"
expect "both VMMs side by side" "$new:100:0 $old:100:1" "$(vmm_rows)"
boot b
contains "B runs the new bundle's binary" "/vmm/qemu/$new/x64/bin/qemu-system-x86_64" "$(vmm_exe b)"
contains "A still runs the old one" "/vmm/qemu/$old/" "$(vmm_exe a)"
restart a
contains "A runs the old one after a stop and start" "/vmm/qemu/$old/" "$(vmm_exe a)"
loam vm stop b >/dev/null || bad "stop b"

# ---- drain: new VMs leave the drained version, pinned ones keep it ----
loam artifact drain local vmm "$new" >/dev/null || bad "drain $new"
boot c
contains "C, made while the new VMM is drained, runs the old" "/vmm/qemu/$old/" "$(vmm_exe c)"
expect "B keeps the drained version" "$new" "$(vm_vmm b)"
loam vm rm c >/dev/null || bad "rm c"
loam artifact undrain local vmm "$new" >/dev/null || bad "undrain $new"

# ---- GC keeps what A runs; vm upgrade moves A; GC then removes it ----
old_dir=$state/host/artifacts/vmm/qemu/$old/x64
gc=$(loam artifact gc --json)
expect "gc keeps the old VMM while A pins it" "" \
	"$(jq -r --arg v "$old" '.hosts[].removed[] | select(.component=="vmm" and .version==$v) | .version' <<<"$gc")"
[[ -x $old_dir/bin/qemu-system-x86_64 ]] && ok || bad "the old VMM's files are kept"
out=$(loam vm upgrade a) || bad "vm upgrade a: $out"
contains "vm upgrade says A moves at its next start" "vmm qemu $old -> $new" "$out"
contains "A keeps running the old one until then" "/vmm/qemu/$old/" "$(vmm_exe a)"
restart a
contains "A runs the new bundle after the restart" "/vmm/qemu/$new/" "$(vmm_exe a)"
expect "A pins the new VMM" "$new" "$(vm_vmm a)"
until_true 60 "c gone" bash -c "! '$bin/loam' vm show c --json >/dev/null 2>&1"

# ---- GC killed between the files and the rows (fault point
# gc-after-uninstall): the next GC finishes what the first began ----
kill -TERM "$loamd_pid" && wait "$loamd_pid" 2>/dev/null
start_loamd gc-after-uninstall || finish
loam artifact gc >/dev/null 2>&1 && bad "gc answered although loamd was to die mid-way"
until_true 30 "loamd killed at gc-after-uninstall" bash -c "! kill -0 $loamd_pid 2>/dev/null"
wait "$loamd_pid" 2>/dev/null
[[ ! -e $old_dir ]] && ok || bad "the old VMM's files went before the crash"
start_loamd || finish
contains "after the crash the old VMM's row is still there" "$old:" "$(vmm_rows)"
gc=$(loam artifact gc --json)
contains "the next gc removes the old VMM's row" "$old" \
	"$(jq -r '.hosts[].removed[] | select(.component=="vmm") | .version' <<<"$gc")"
[[ ! -e $old_dir ]] && ok || bad "the old VMM's files are gone"
expect "only the new VMM is left" "$new:100:2" "$(vmm_rows)"

if ((fails)); then
	echo "--- loamd log (tail)"
	tail -n 40 "$state/loamd.log"
fi
finish
