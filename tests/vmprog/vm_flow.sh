#!/usr/bin/env bash
# The whole VM flow through loamd (issue 6 acceptance), on the local host,
# with real guests under TCG booting through OVMF (x64) and AAVMF (arm64)
# from the artifact store, installed on the host by cloudify:
#   - bad VM names are refused before anything is recorded or runs;
#   - placement queue: an arm64 VM created while the only host is x64
#     without emulation waits with the allocator's reason, and starts once
#     the host is set to emulate arm64 (which installs arm64's artifacts);
#     a VM stopped while queued leaves the queue, is never placed, and
#     queues again on start;
#   - each guest reports its own machine (x86_64, aarch64) and the VM shows
#     the artifact versions it was started with;
#   - prep that fails on the host: retried, then failed with the cause and
#     purged; start prepares it again once the cause is fixed;
#   - stop/start, a killed VMM (failed, serial tail in vm show), destroy:
#     afterwards the host's used cores/memory/hugepages are what they were,
#     and no VM user, directory or QEMU process is left.
# Temp state dir, free port, everything purged on exit. Skips (77) when the
# artifact store has not been built (make artifacts).
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bin=${LOAM_BIN_DIR:?}
store=${LOAM_ARTIFACT_STORE:-${LOAM_SOURCE_DIR:?}/build/artifacts/store}
dist=${LOAM_DIST_DIR:-${LOAM_SOURCE_DIR}/build/dist}
require_store "$store"

state=$(mktemp -d /tmp/loam-vmflow.XXXXXX)
# `vm create` gives the VMs this key (~/.ssh/id_ed25519.pub under HOME)
use_test_key "$state" || exit 1
chmod 0755 "$state"
port=$(free_port)
export LOAM_URL=http://127.0.0.1:$port LOAM_STATE_DIR=$state
loamd_pid=
cleanup() {
	[[ -n $loamd_pid ]] && kill "$loamd_pid" 2>/dev/null && wait "$loamd_pid" 2>/dev/null
	local agent
	agent=$(ls "$state"/host/agent/*/loam-host 2>/dev/null | head -n1)
	for d in "$state"/host/vms/*/; do
		[[ -d $d && -n $agent ]] && "$agent" vm-purge "$(basename "$d")" --state-dir "$state/host" >/dev/null 2>&1
	done
	rm -rf "$state"
}
trap cleanup EXIT

loam() { "$bin/loam" "$@"; }
vm_field() { loam vm show "$1" --json 2>/dev/null | jq -r "$2"; }
# The uid of a VM's user.
vm_uid() { awk -F: -v p="loam-vm-${1:0:16}" 'index($1, p) == 1 {print $3}' /etc/passwd; }
host_field() { loam host show local --json 2>/dev/null | jq -r "$1"; }
# until_true SECONDS WHAT CMD...: polls CMD every second.
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
vm_state_is() { [[ $(vm_field "$1" .state) == "$2" ]]; }
vm_gone() { ! loam vm show "$1" --json >/dev/null 2>&1; }
image_installed() {
	[[ $(host_field "[.artifacts[] | select(.component==\"image\" and .arch==\"$1\" and .state==\"installed\")] | length") -ge 1 ]]
}
host_accepting() { [[ $(host_field .state) == accepting ]]; }
counters() { host_field '"\(.used_cores) \(.used_memory_gib) \(.hugepages_1g_used)"'; }

"$bin/loamd" --state-dir "$state" --listen "127.0.0.1:$port" --dist-dir "$dist" \
	--artifact-store "$store" >"$state/loamd.log" 2>&1 &
loamd_pid=$!
loamd_up() { loam sizes >/dev/null 2>&1; }
until_true 30 "loamd" loamd_up || exit 1

# ---- bad names: refused before anything is recorded ----
for name in 'x;reboot' 'a$(id)' 'a b' "$(printf 'n%.0s' {1..70})"; do
	if loam vm create "$name" --arch x64 --size standard-2 --image loam-tiny >/dev/null 2>&1; then
		bad "VM name '$name' was accepted"
	else ok; fi
done
expect "no VM recorded after bad names" 0 "$(loam vm ls --json | jq length)"

# ---- the local host: x64 with TCG, no emulation yet ----
loam host add --local >/dev/null || bad "host add --local"
loam host set local --allow-tcg --cpu-overcommit 2 >/dev/null || bad "host set"
host_ready_x64() { host_accepting && image_installed x64; }
until_true 300 "host accepting with the x64 image" host_ready_x64 || exit 1
base=$(counters)
expect "host starts with nothing used" "0 0 0" "$base"

loam vm create t-x64 --arch x64 --size standard-2 --image loam-tiny >/dev/null || bad "create t-x64"
loam vm create t-arm64 --arch arm64 --size standard-2 --image loam-tiny >/dev/null || bad "create t-arm64"

# ---- placement queue: arm64 waits, with the allocator's reason ----
until_true 30 "t-arm64 waiting" vm_state_is t-arm64 waiting
contains "arm64 waits for an arm64-capable host" "arch=arm64: 0" "$(vm_field t-arm64 .state_reason)"
expect "a waiting VM has no host" null "$(vm_field t-arm64 .host)"

# ---- a VM stopped while queued leaves the queue and never boots ----
loam vm create t-parked --arch arm64 --size standard-2 --image loam-tiny >/dev/null || bad "create t-parked"
until_true 30 "t-parked waiting" vm_state_is t-parked waiting
contains "the second arm64 VM queues behind the first" "behind VM t-arm64" \
	"$(vm_field t-parked .state_reason)"
loam vm stop t-parked >/dev/null || bad "stop t-parked"
until_true 30 "t-parked stopped" vm_state_is t-parked stopped
contains "a VM stopped in the queue says so" "before it booted" "$(vm_field t-parked .state_reason)"

# ---- x64 boots through OVMF ----
until_true 300 "t-x64 running" vm_state_is t-x64 running
expect "x64 guest machine" x86_64 "$(vm_field t-x64 .guest_machine)"
id_x64=$(vm_field t-x64 .id)
expect "the running VM has its own user" 1 "$(grep -c "^loam-vm-${id_x64:0:16}" /etc/passwd)"
expect "the running VM's dir is root's, its run/ the VM user's" "710 root 700 loam-vm-${id_x64:0:16}" \
	"$(stat -c '%a %U' "$state/host/vms/$id_x64") $(stat -c '%a %U' "$state/host/vms/$id_x64/run" | cut -c1-28)"
declare -A uid_of=([$id_x64]=$(vm_uid "$id_x64"))
expect "x64 VM pins 4 artifacts" "firmware image storage vmm" \
	"$(vm_field t-x64 '[.artifacts[].component] | sort | join(" ")')"
expect "x64 firmware is x64's" x64 "$(vm_field t-x64 '.artifacts[] | select(.component=="firmware") | .arch')"

# ---- the host learns to emulate arm64: installs arm64 and the queue moves ----
loam host set local --emulate arm64 >/dev/null || bad "host set --emulate arm64"
until_true 300 "t-arm64 running" vm_state_is t-arm64 running
expect "arm64 guest machine" aarch64 "$(vm_field t-arm64 .guest_machine)"
expect "arm64 image installed by the emulate switch" 0 "$(image_installed arm64; echo $?)"
contains "arm64 VM runs AAVMF's edk2" "edk2" "$(vm_field t-arm64 '.artifacts[] | select(.component=="firmware") | .name')"
expect "the VM stopped in the queue stays stopped" stopped "$(vm_field t-parked .state)"
expect "the VM stopped in the queue was never placed" null "$(vm_field t-parked .host)"
loam vm start t-parked >/dev/null || bad "start t-parked"
until_true 30 "t-parked back in the queue" vm_state_is t-parked waiting
contains "t-parked waits for capacity again" "waiting for capacity" "$(vm_field t-parked .state_reason)"

# ---- stop and start ----
loam vm stop t-x64 >/dev/null || bad "stop t-x64"
until_true 60 "t-x64 stopped" vm_state_is t-x64 stopped
id_x64=$(vm_field t-x64 .id)
agent=$(host_field .agent_path)
expect "stopped VM has no QEMU" false \
	"$("$agent" vm-status "$id_x64" --state-dir "$state/host" | jq -r .running)"
loam vm start t-x64 >/dev/null || bad "start t-x64"
until_true 300 "t-x64 running again" vm_state_is t-x64 running

# ---- the VMM dies: failed, with the serial tail ----
id_arm=$(vm_field t-arm64 .id)
uid_of[$id_arm]=$(vm_uid "$id_arm")
pid=$("$agent" vm-status "$id_arm" --state-dir "$state/host" | jq -r .pid)
if [[ $pid =~ ^[0-9]+$ ]]; then kill -KILL "$pid"; else bad "no QEMU pid for t-arm64"; fi
until_true 60 "t-arm64 failed" vm_state_is t-arm64 failed
reason=$(vm_field t-arm64 .state_reason)
contains "failed reason says the VMM died" "VMM died" "$reason"
contains "failed reason carries the serial tail" "LOAM-READY machine=aarch64" "$reason"
contains "vm show prints the reason" "LOAM-READY" "$(loam vm show t-arm64)"

# ---- destroy: counters, users, dirs and processes all gone ----
loam vm rm t-parked >/dev/null || bad "rm t-parked"
until_true 120 "t-parked gone" vm_gone t-parked
loam vm rm t-x64 >/dev/null || bad "rm t-x64"
loam vm rm t-arm64 >/dev/null || bad "rm t-arm64"
until_true 120 "t-x64 gone" vm_gone t-x64
until_true 120 "t-arm64 gone" vm_gone t-arm64

# ---- the direct-kernel fast path (the image's kernel, no UEFI) ----
api() { curl -s -H "Authorization: Bearer $(cat "$state/token")" -H 'Content-Type: application/json' "$@"; }
contains "a bad boot mode is refused" "boot must be" \
	"$(api -d '{"name":"t-bad","arch":"x64","size":"standard-2","boot":"pxe"}' "$LOAM_URL/v1/vms")"
# --wait follows the VM until it runs and says what the guest reported
out=$(loam vm create t-fast --arch x64 --size standard-2 --image loam-tiny --boot kernel --wait 2>"$state/wait.err")
expect "create --wait exits 0 once running" "0" "$?"
contains "create --wait reports the guest" "guest reports x86_64" "$out"
contains "create --wait shows each state" "vm t-fast: booting" "$(cat "$state/wait.err")"
expect "t-fast is running when create --wait returns" running "$(vm_field t-fast .state)"
expect "direct-kernel guest machine" x86_64 "$(vm_field t-fast .guest_machine)"
loam vm rm t-fast >/dev/null || bad "rm t-fast"
until_true 120 "t-fast gone" vm_gone t-fast

# ---- the agent cannot be run during prep: retries with backoff, then
# failed with the reason; destroy still cleans up ----
real_agent=$(host_field .agent_path)
sql() { sqlite3 -cmd '.timeout 5000' "$state/loam.db" "$1"; }
sql "UPDATE host SET agent_path = '/nonexistent/loam-host'"
loam vm create t-half --arch x64 --size standard-2 --image loam-tiny >/dev/null || bad "create t-half"
until_true 120 "t-half failed" vm_state_is t-half failed
contains "prep gave up with the reason" "prep failed after 5 tries" "$(vm_field t-half .state_reason)"
id_half=$(vm_field t-half .id)
sql "UPDATE host SET agent_path = '$real_agent'"
loam vm rm t-half >/dev/null || bad "rm t-half"
until_true 120 "t-half gone" vm_gone t-half
expect "no user for the failed VM" 0 "$(grep -c "^loam-vm-${id_half:0:16}" /etc/passwd)"

# ---- prep fails on the host itself (a world-writable boot image): after
# the retries the VM is failed and nothing of it is left on the host; once
# the image is fixed, start prepares it again and it boots ----
img=$(ls "$state"/host/artifacts/image/loam-tiny/*/x64/loam-tiny.x64.img | head -n1)
chmod o+w "$img"
loam vm create t-img --arch x64 --size standard-2 --image loam-tiny --boot kernel --wait >/dev/null 2>"$state/wait.err"
expect "create --wait exits 1 when the VM fails" 1 "$?"
contains "create --wait says why it failed" "world-writable" "$(cat "$state/wait.err")"
expect "t-img failed" failed "$(vm_field t-img .state)"
contains "prep failure names the cause" "world-writable" "$(vm_field t-img .state_reason)"
id_img=$(vm_field t-img .id)
expect "no user left by the failed prep" 0 "$(grep -c "^loam-vm-${id_img:0:16}" /etc/passwd)"
expect "no dir left by the failed prep" 0 "$(ls -d "$state/host/vms/$id_img" 2>/dev/null | wc -l)"
chmod o-w "$img"
loam vm start t-img >/dev/null || bad "start t-img"
until_true 300 "t-img running after the fix" vm_state_is t-img running
expect "t-img guest machine" x86_64 "$(vm_field t-img .guest_machine)"
loam vm rm t-img >/dev/null || bad "rm t-img"
until_true 120 "t-img gone" vm_gone t-img

expect "host counters back to where they were" "$base" "$(counters)"
for id in "$id_x64" "$id_arm"; do
	expect "no dir for $id" 0 "$(ls -d "$state/host/vms/$id" 2>/dev/null | wc -l)"
	expect "no user for $id" 0 "$(grep -c "^loam-vm-${id:0:16}" /etc/passwd)"
	# Other tests on this machine make VM users too and may get the uid
	# once it is free: count it only while no one holds it.
	uid=${uid_of[$id]:-none}
	getent passwd "$uid" >/dev/null || expect "no QEMU for $id" 0 "$(live_procs_of "$uid")"
done

if ((fails)); then
	echo "--- loamd log (tail)"
	tail -n 40 "$state/loamd.log"
fi
finish
