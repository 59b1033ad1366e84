#!/usr/bin/env bash
# Hosts that go away (issue 7 item 6), with the real x64 SSH test host
# (tests/hosts/ssh-hosts.sh: Debian's sshd on a free port, sessions on this
# machine) and real loamd (sanitizer build, SQLite, a 2 s heartbeat):
#   - the SSH host is cloudified (TCG allowed) and a VM boots on it;
#   - its sshd and every session are killed: the host becomes `unreachable`
#     with a reason and its VM `unavailable`; the guest itself keeps running;
#   - a VM created meanwhile waits with the allocator's reason shown (the
#     only host is away); once the local host is cloudified too it goes
#     there instead;
#   - sshd is started again on the same port (ssh-hosts.sh restart): the
#     host returns to `accepting` and its VM to `running`;
#   - the counters equal the sum over the VMs throughout; everything is
#     destroyed and purged at the end.
# Skips (77) without the artifact store.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
src=${LOAM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${LOAM_BIN_DIR:-$src/build/check/bin}
store=${LOAM_ARTIFACT_STORE:-$src/build/artifacts/store}
dist=${LOAM_DIST_DIR:-$src/build/dist}
require_store "$store"

state=$(mktemp -d /tmp/loam-hostaway.XXXXXX)
# `vm create` gives the VMs this key (~/.ssh/id_ed25519.pub under HOME)
use_test_key "$state" || exit 1
hosts=$(mktemp -d /tmp/loam-hostaway-hosts.XXXXXX)
chmod 0755 "$state"
port=$(free_port)
export LOAM_URL=http://127.0.0.1:$port LOAM_STATE_DIR=$state
loamd_pid=
purge_vms() { # state dir of one host
	local agent d
	agent=$(find "$1/agent" -name loam-host 2>/dev/null | head -n1)
	for d in "$1"/vms/*/; do
		[[ -d $d && -n $agent ]] && "$agent" vm-purge "$(basename "$d")" --state-dir "$1" >/dev/null 2>&1
	done
}
cleanup() {
	[[ -n $loamd_pid ]] && kill "$loamd_pid" 2>/dev/null && wait "$loamd_pid" 2>/dev/null
	purge_vms "$state/host"
	purge_vms "$state/sshhost"
	bash "$src/tests/hosts/stop-ssh-hosts.sh" "$hosts"
	rm -rf "$state" "$hosts"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

loam() { timeout 60 "$bin/loam" "$@"; }
sql() { sqlite3 -readonly -cmd '.timeout 5000' "$state/loam.db" "$@"; }
until_true() { # SECONDS WHAT CMD...
	local limit=$1 what=$2
	shift 2
	for ((i = 0; i < limit; i++)); do
		"$@" && return 0
		sleep 1
	done
	bad "timed out after ${limit}s waiting for $what"
	return 1
}
vm_field() { loam vm show "$1" --json 2>/dev/null | jq -r "$2"; }
host_field() { loam host show "$1" --json 2>/dev/null | jq -r "$2"; }
vm_state_is() { [[ $(vm_field "$1" .state) == "$2" ]]; }
host_state_is() { [[ $(host_field "$1" .state) == "$2" ]]; }
# The VM's QEMU runs as the VM's own user (the jail hands it its files as
# fds, so its command line does not name the VM's dir): count by uid.
vm_uid_of() { awk -F: -v p="loam-vm-${1:0:16}" 'index($1, p) == 1 {print $3}' /etc/passwd; }
qemus_of_uid() {
	if [[ -z $1 ]]; then
		echo 0
		return
	fi
	ps -o stat=,args= -u "$1" | awk '$1 !~ /^Z/ && $2 ~ /qemu-system-/' | wc -l
}
counters_match() {
	expect "$1: used counters equal the sum over VMs" 0 "$(sql "SELECT count(*) FROM host h
	 WHERE used_cores <> (SELECT coalesce(sum(cores), 0) FROM vm WHERE host_id = h.id)
	    OR used_memory_gib <> (SELECT coalesce(sum(memory_gib), 0) FROM vm WHERE host_id = h.id)")"
}

bash "$src/tests/hosts/start-ssh-hosts.sh" "$hosts" x64 || {
	bad "the SSH test host did not start"
	exit 1
}
# shellcheck disable=SC1091
source "$hosts/hosts.env"

"$bin/loamd" --state-dir "$state" --listen "127.0.0.1:$port" --dist-dir "$dist" \
	--artifact-store "$store" --heartbeat-s 2 --ssh-key-root "$(dirname "$SSH_KEY")" \
	>"$state/loamd.log" 2>&1 &
loamd_pid=$!
until_true 30 "loamd" loam sizes >/dev/null 2>&1 || exit 1

# ---- the SSH host, and a VM on it ----
loam host add "$X64_ADDRESS" --ssh-port "$X64_PORT" --ssh-user "$X64_USER" --ssh-key "$SSH_KEY" \
	--name away --state-dir "$state/sshhost" --no-wait >/dev/null || bad "host add away"
loam host set away --allow-tcg --cpu-overcommit 4 >/dev/null || bad "host set away"
until_true 300 "host away accepting" host_state_is away accepting || exit 1
loam vm create a1 --arch x64 --size standard-2 --image loam-tiny --boot kernel >/dev/null || bad "create a1"
until_true 300 "a1 running" vm_state_is a1 running || exit 1
expect "a1 is on the SSH host" away "$(vm_field a1 .host)"
a1_id=$(vm_field a1 .id)
counters_match "before"

# ---- sshd and its sessions go away ----
(
	# shellcheck disable=SC1091
	source "$src/tests/hosts/ssh-hosts.sh"
	_lh_stop_sshd x64 "$hosts"
)
until_true 60 "host away unreachable" host_state_is away unreachable
nonempty "unreachable host shows a reason" "$(host_field away .state_reason)"
until_true 30 "a1 unavailable" vm_state_is a1 unavailable
a1_uid=$(vm_uid_of "$a1_id")
nonempty "a1 has its own user" "$a1_uid"
expect "the guest keeps running while its host is away" 1 \
	"$(qemus_of_uid "$a1_uid" | awk '{print ($1 > 0)}')"
counters_match "while away"

# ---- a create meanwhile: waits with the reason, then goes elsewhere ----
loam vm create a2 --arch x64 --size standard-2 --image loam-tiny --boot kernel >/dev/null || bad "create a2"
until_true 30 "a2 waiting" vm_state_is a2 waiting
nonempty "a2 shows why it waits" "$(vm_field a2 .state_reason)"
expect "a waiting VM has no host" null "$(vm_field a2 .host)"
loam host add --local --no-wait >/dev/null || bad "host add --local"
loam host set local --allow-tcg --cpu-overcommit 4 >/dev/null || bad "host set local"
until_true 300 "a2 running" vm_state_is a2 running
expect "a2 went to the other host" local "$(vm_field a2 .host)"
expect "a1 is still unavailable" unavailable "$(vm_field a1 .state)"

# ---- sshd comes back on the same port: both recover ----
bash "$src/tests/hosts/ssh-hosts.sh" restart "$hosts" x64 || bad "ssh-hosts.sh restart"
until_true 60 "host away accepting again" host_state_is away accepting
until_true 30 "a1 running again" vm_state_is a1 running
expect "the recovered host has no reason left" null "$(host_field away .state_reason)"
counters_match "after recovery"

# ---- destroy: nothing left on either host ----
loam vm rm a1 >/dev/null || bad "rm a1"
loam vm rm a2 >/dev/null || bad "rm a2"
vm_gone() { ! loam vm show "$1" --json >/dev/null 2>&1; }
until_true 120 "a1 gone" vm_gone a1
until_true 120 "a2 gone" vm_gone a2
expect "no VM dir left on the SSH host" 0 "$(find "$state/sshhost/vms" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
expect "no QEMU left for a1" 0 "$(qemus_of_uid "$a1_uid")"
counters_match "after destroy"

if ((fails)); then
	echo "--- loamd log (tail)"
	tail -n 40 "$state/loamd.log"
fi
finish
