#!/usr/bin/env bash
# A real arm64 host end to end (issue 18): loamd cloudifies the arm64-debian
# test host (tests/hosts/debian-arm64.sh: a Debian 12 arm64 server under
# qemu-user) over SSH next to this machine as the x64 host (which may
# emulate arm64 and has room):
#   - the arm64 host learns arm64 and installs the arm64 VMM, firmware,
#     image and storage daemon, none of them `unavailable`;
#   - an arm64 loam-tiny VM (--allow-tcg there, no KVM) is placed on the
#     arm64 host, not on the emulating x64 one, and runs with guest_machine
#     aarch64; the program its VMM process runs is the arm64 QEMU under
#     loam's prefix on that host, of the version `vm show` reports;
#   - an x64 VM of the same run lands on the x64 host;
#   - stop, start and destroy there leave no VMM, user or VM dir behind.
# Prints request→running for the arm64 VM on its own host, and for the
# same VM emulated on the x64 host, as figures. Skips (77) without the
# artifact store; the arm64 host's root is built into the artifact cache
# on its first run (minutes), then reused.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bin=${LOAM_BIN_DIR:?}
src=${LOAM_SOURCE_DIR:?}
store=${LOAM_ARTIFACT_STORE:-$src/build/artifacts/store}
dist=${LOAM_DIST_DIR:-$src/build/dist}
require_store "$store"
for tool in file jq ssh mmdebstrap; do
	command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (scripts/deps.sh test)" >&2; exit 1; }
done

state=$(mktemp -d /tmp/loam-arm64host.XXXXXX)
hosts=$state/hosts
use_test_key "$state" || exit 1
chmod 0755 "$state"
port=$(free_port)
export LOAM_URL=http://127.0.0.1:$port LOAM_STATE_DIR=$state
loamd_pid=
cleanup() {
	if ((fails)) && [[ -f $state/loamd.log ]]; then
		echo "--- loamd log (tail)"
		tail -n 40 "$state/loamd.log"
	fi
	bash "$src/tests/hosts/stop-ssh-hosts.sh" "$hosts"
	purge_loam_state "$state" "$loamd_pid"
}
trap cleanup EXIT

loam() { "$bin/loam" "$@"; }
vm_field() { loam vm show "$1" --json 2>/dev/null | jq -r "$2"; }
host_field() { loam host show "$1" --json 2>/dev/null | jq -r "$2"; }
vm_state_is() { [[ $(vm_field "$1" .state) == "$2" ]]; }
vm_gone() { ! loam vm show "$1" --json >/dev/null 2>&1; }
vm_field_set() { [[ $(vm_field "$1" "$2") != null ]]; }
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

bash "$src/tests/hosts/start-ssh-hosts.sh" "$hosts" arm64-debian || {
	bad "the arm64-debian host did not start"
	finish
}
# shellcheck disable=SC1091
source "$hosts/hosts.env"
# A command on the arm64 host, as root there (its own arm64 sshd and shell).
# ssh reads its known_hosts more than once: a file, not a pipe.
echo "[127.0.0.1]:$ARM64_DEBIAN_PORT $ARM64_DEBIAN_HOST_KEY" >"$state/known_hosts"
on_arm() {
	ssh -q -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$state/known_hosts" \
		-i "$SSH_KEY" -p "$ARM64_DEBIAN_PORT" root@127.0.0.1 "$@"
}

"$bin/loamd" --state-dir "$state" --listen "127.0.0.1:$port" --dist-dir "$dist" \
	--artifact-store "$store" >"$state/loamd.log" 2>&1 &
loamd_pid=$!
loamd_up() { loam sizes >/dev/null 2>&1; }
until_true 30 "loamd" loamd_up || finish

# ---- two hosts: this machine (x64, may emulate arm64) and the arm64 one ----
loam host add --local --no-wait >/dev/null || bad "host add --local"
loam host set local --allow-tcg --emulate arm64 --cpu-overcommit 4 >/dev/null ||
	bad "host set local"
# loamd reads SSH keys only under its key roots (STATE_DIR/ssh among them).
mkdir -p "$state/ssh" && install -m 0600 "$SSH_KEY" "$state/ssh/arm64_debian_key"
t=$(now_ms)
loam host add 127.0.0.1 --name arm --ssh-port "$ARM64_DEBIAN_PORT" --ssh-user root \
	--ssh-key "$state/ssh/arm64_debian_key" --host-key "$ARM64_DEBIAN_HOST_KEY" --timeout 900 >"$state/add.out" 2>&1 ||
	bad "host add arm: $(tail -n 3 "$state/add.out")"
echo "arm64 host cloudified (agent upload, learn, installs) in $((($(now_ms) - t) / 1000)) s"
loam host set arm --allow-tcg --cpu-overcommit 4 >/dev/null || bad "host set arm"
expect "the arm64 host learned arm64" arm64 "$(host_field arm .arch)"
expect "the arm64 host has no KVM" false "$(host_field arm .kvm)"

installed() { # host component
	[[ $(host_field "$1" "[.artifacts[] | select(.component==\"$2\" and .state==\"installed\")] | length") -ge 1 ]]
}
all_installed() {
	local c
	for c in vmm firmware image storage; do installed arm "$c" || return 1; done
	installed local image
}
until_true 600 "the arm64 host's VMM, firmware, image and storage daemon" all_installed
for c in vmm firmware image storage; do
	expect "arm64 host: $c is arm64's" arm64 \
		"$(host_field arm "[.artifacts[] | select(.component==\"$c\") | .arch] | unique | join(\" \")")"
done
expect "arm64 host: no artifact unavailable or failed" "" \
	"$(host_field arm '[.artifacts[] | select(.state != "installed") | "\(.component) \(.name) \(.state): \(.error)"] | join("; ")')"
expect "arm64 host accepting" accepting "$(host_field arm .state)"

# ---- placement: arm64 on the arm64 host, x64 on this one ----
t_arm=$(now_ms)
loam vm create t-arm --arch arm64 --size standard-2 --image loam-tiny --boot kernel >/dev/null ||
	bad "create t-arm"
loam vm create t-x64 --arch x64 --size standard-2 --image loam-tiny --boot kernel >/dev/null ||
	bad "create t-x64"
# ---- the VMM on the arm64 host is loam's arm64 build ----
until_true 120 "t-arm placed" vm_field_set t-arm .host
expect "t-arm placed on the arm64 host" arm "$(vm_field t-arm .host)"
agent=$(host_field arm .agent_path)
rstate=$(host_field arm .state_dir)
id_arm=$(vm_field t-arm .id)
vmm_pid() { on_arm "$agent" vm-status "$id_arm" --state-dir "$rstate" | jq -r .pid; }
has_vmm() { [[ $(vmm_pid) =~ ^[0-9]+$ ]]; }
# Checked while the guest boots: the VMM runs from its start.
until_true 300 "t-arm's VMM started" has_vmm
pid=$(vmm_pid)
if [[ $pid =~ ^[0-9]+$ ]]; then
	# Under qemu-user the kernel runs the interpreter (binfmt_misc):
	# /proc/PID/exe names qemu-aarch64's binfmt entry, and the program it
	# translates is argv[1] (the P flag keeps argv[0] as argv[2]). On a
	# real arm64 server /proc/PID/exe is that program itself.
	exe=$(readlink "/proc/$pid/exe")
	prog=$(tr '\0' '\n' <"/proc/$pid/cmdline" | sed -n 2p)
	echo "t-arm VMM pid $pid: /proc/PID/exe -> $exe (qemu-user), program $prog"
	want=$(vm_field t-arm '.artifacts[] | select(.component=="vmm") | .version')
	vmm_path=$(host_field arm ".artifacts[] | select(.component==\"vmm\" and .version==\"$want\") | .path")
	nonempty "the pinned VMM's path on the arm64 host" "$vmm_path"
	contains "the VMM program is under loam's VMM install on that host" "$vmm_path/" "$prog"
	contains "the VMM program is an arm64 ELF" "ARM aarch64" "$(file -b "$ARM64_DEBIAN_ROOT$prog")"
	got=$(on_arm "$prog" --version | sed -n '1s/.*version \([^ ]*\).*/\1/p')
	contains "the running VMM's version is the one vm show reports ($want)" "$got" "$want"
	nonempty "the VMM's version" "$got"
	expect "the VMM does not run as root" 1 "$(($(stat -c %u "/proc/$pid") != 0))"
else
	bad "no VMM pid for t-arm: $pid"
fi

until_true 600 "t-arm running" vm_state_is t-arm running
ms_arm=$(($(now_ms) - t_arm))
until_true 300 "t-x64 running" vm_state_is t-x64 running
expect "t-arm placed on the arm64 host" arm "$(vm_field t-arm .host)"
expect "t-arm guest machine" aarch64 "$(vm_field t-arm .guest_machine)"
expect "t-x64 placed on the x64 host" local "$(vm_field t-x64 .host)"
expect "t-x64 guest machine" x86_64 "$(vm_field t-x64 .guest_machine)"

# ---- stop, start, destroy on the arm64 host ----
vm_dir_on_arm() { on_arm test -e "$rstate/vms/$id_arm" && echo present || echo absent; }
loam vm stop t-arm >/dev/null || bad "stop t-arm"
until_true 120 "t-arm stopped" vm_state_is t-arm stopped
# Gone, or a zombie (this machine's init reaps orphans lazily).
vmm_gone() { [[ ! -d /proc/$pid || $(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null) == Z ]]; }
[[ $pid =~ ^[0-9]+$ ]] && until_true 60 "no VMM after stop" vmm_gone
loam vm start t-arm >/dev/null || bad "start t-arm"
until_true 600 "t-arm running again" vm_state_is t-arm running
expect "t-arm still on the arm64 host" arm "$(vm_field t-arm .host)"
loam vm rm t-arm >/dev/null || bad "rm t-arm"
loam vm rm t-x64 >/dev/null || bad "rm t-x64"
until_true 180 "t-arm gone" vm_gone t-arm
until_true 180 "t-x64 gone" vm_gone t-x64
expect "no VM dir left on the arm64 host" absent "$(vm_dir_on_arm)"
expect "no VM user left on the arm64 host" 0 "$(on_arm grep -c "^loam-vm-${id_arm:0:16}" /etc/passwd)"
# [s]: the pattern must not match the remote shell that runs pgrep.
expect "no VMM left on the arm64 host" 0 \
	"$(on_arm pgrep -c -f "$rstate/vm[s]/$id_arm" || true)"
expect "arm64 host counters back to zero" "0 0" "$(host_field arm '"\(.used_cores) \(.used_memory_gib)"')"

# ---- the figure beside it: the same VM emulated on the x64 host ----
loam host set arm --draining >/dev/null || bad "host set arm --draining"
t=$(now_ms)
loam vm create t-emu --arch arm64 --size standard-2 --image loam-tiny --boot kernel >/dev/null ||
	bad "create t-emu"
until_true 600 "t-emu running" vm_state_is t-emu running
ms_emu=$(($(now_ms) - t))
expect "with the arm64 host draining, arm64 runs emulated on the x64 host" local "$(vm_field t-emu .host)"
loam vm rm t-emu >/dev/null || bad "rm t-emu"
until_true 180 "t-emu gone" vm_gone t-emu

printf 'request->running, arm64 loam-tiny (direct kernel, TCG): %d.%d s on the arm64 host (qemu-user), %d.%d s emulated on the x64 host\n' \
	$((ms_arm / 1000)) $((ms_arm % 1000 / 100)) $((ms_emu / 1000)) $((ms_emu % 1000 / 100))
finish
