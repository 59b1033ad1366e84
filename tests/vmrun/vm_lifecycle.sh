#!/usr/bin/env bash
# The agent's VM verbs against real QEMU and real firmware, for both arches
# under TCG: vm-prep (user with only kvm as extra group, root's 0710 dir with
# the user's run/, qcow2
# overlay, VARS copy, CIDATA seed), vm-start (QEMU as the VM user, QMP
# running, serial log growing), vm-stop, vm-purge, each run twice, and bad
# input refused before anything changes. No guest image is needed: OVMF and
# AAVMF with an empty disk boot to the UEFI shell, which talks on serial.
# Everything made here is purged on exit, even on failure.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
agent=${LOAM_BIN_DIR:?}/loam-host
jget() { python3 -c 'import json,sys; v=json.load(sys.stdin); print(json.dumps(v[sys.argv[1]]) if not isinstance(v[sys.argv[1]], str) else v[sys.argv[1]])' "$1"; }

jget_lines() { python3 -c 'import json,sys; [print(json.dumps(json.loads(l)[sys.argv[1]])) for l in sys.stdin]' "$1"; }

state=$(mktemp -d /tmp/loam-vmrun.XXXXXX)
chmod 0755 "$state"
ids=()
declare -A user_of=()
cleanup() {
	for id in "${ids[@]}"; do "$agent" vm-purge "$id" --state-dir "$state" >/dev/null 2>&1; done
	rm -rf "$state"
}
trap cleanup EXIT

# A unique id per run and arch: lower-case letters and digits only.
suffix=$(printf '%x%x' $$ "$(date +%s)")

truncate -s 64M "$state/base.img"
chmod 0600 "$state/base.img" # vm-prep must make it readable by the VM user

spec() { # id arch code vars
	cat <<JSON
{"id":"$1","name":"lifecycle-$2","arch":"$2","vcpus":2,"memory_mib":256,"hugepages":false,
 "kvm":false,"topology":{"packages":1,"dies":1,"cores":2,"threads":1},
 "image":"$state/base.img","fw_code":"$3","fw_vars":"$4","disk_gib":1,
 "seed":{"meta-data":"instance-id: $1\nlocal-hostname: lifecycle\n","user-data":"#cloud-config\n"},
 "direct_kernel":null}
JSON
}

serial_size() { stat -c %s "$1/serial.log" 2>/dev/null || echo 0; }

check_prep() { # id arch code vars
	local id=$1 dir=$state/vms/$1 user out
	out=$(spec "$@" | "$agent" vm-prep --state-dir "$state") || { bad "$2: vm-prep failed"; return 1; }
	user=$(jget user <<<"$out")
	user_of[$id]=$user
	# Ids are 26 characters (loam_db_new_id): the user name is cut to 32
	# with a hash of the id, and stays the same on every run.
	[[ $user =~ ^loam-vm-[a-z0-9]{24}$ && $user == loam-vm-${id:0:16}* ]] && ok ||
		bad "$2: user name '$user' for id $id"
	expect "$2 user's groups" "$user kvm" "$(id -Gn "$user")"
	expect "$2 dir mode and owner" "710 root $user" "$(stat -c '%a %U %G' "$dir")"
	expect "$2 run/ mode and owner" "700 $user" "$(stat -c '%a %U' "$dir/run")"
	expect "$2 files are root's" "root root root" "$(stat -c %U "$dir/disk.qcow2" "$dir/VARS.fd" "$dir/seed.img" | tr '\n' ' ' | sed 's/ $//')"
	local info
	info=$(qemu-img info --output=json "$dir/disk.qcow2")
	expect "$2 disk format" qcow2 "$(jget format <<<"$info")"
	expect "$2 disk backing file" "$state/base.img" "$(jget backing-filename <<<"$info")"
	expect "$2 disk size" 1073741824 "$(jget virtual-size <<<"$info")"
	cmp -s "$4" "$dir/VARS.fd" && ok || bad "$2: VARS.fd is not a copy of $4"
	mlabel -s -i "$dir/seed.img" :: | grep -q CIDATA && ok || bad "$2: seed label is not CIDATA"
	expect "$2 seed meta-data" "instance-id: $id" "$(mtype -i "$dir/seed.img" ::meta-data | head -1)"
	[[ $(stat -c %a "$state/base.img") == 604 ]] && ok || bad "$2: base image not made readable"
	# Twice is safe and keeps the disk (the guest's data) as it was.
	local inode
	inode=$(stat -c %i "$dir/disk.qcow2")
	spec "$@" | "$agent" vm-prep --state-dir "$state" >/dev/null || bad "$2: second vm-prep failed"
	expect "$2 disk kept on re-prep" "$inode" "$(stat -c %i "$dir/disk.qcow2")"
	expect "$2 groups after re-prep" "$user kvm" "$(id -Gn "$user")"
}

check_run() { # id arch
	local id=$1 dir=$state/vms/$1 user=${user_of[$1]} out pid
	out=$("$agent" vm-start "$id" --state-dir "$state") || { bad "$2: vm-start failed"; return 1; }
	pid=$(jget pid <<<"$out")
	expect "$2 started" true "$(jget started <<<"$out")"
	expect "$2 QEMU runs as the VM user" "$(id -u "$user")" "$(awk '/^Uid:/{print $2}' "/proc/$pid/status")"
	grep -qw "$(getent group kvm | cut -d: -f3)" <(awk '/^Groups:/' "/proc/$pid/status") && ok ||
		bad "$2: QEMU lacks the kvm group"
	# vm-argv prints exactly what runs (no systemd on this machine).
	expect "$2 vm-argv is the running command line" "$(tr '\0' '\n' <"/proc/$pid/cmdline")" \
		"$("$agent" vm-argv "$id" --state-dir "$state" |
			python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["argv"]))')"
	out=$("$agent" vm-start "$id" --state-dir "$state")
	expect "$2 second start is a no-op" "false $pid" "$(jget started <<<"$out") $(jget pid <<<"$out")"
	out=$("$agent" vm-status "$id" --state-dir "$state")
	expect "$2 status running" true "$(jget running <<<"$out")"
	expect "$2 QMP status" running "$(jget qmp <<<"$out")"
	expect "$2 not ready (no guest)" false "$(jget ready <<<"$out")"
	# No guest ever prints the readiness line: vm-wait-ready gives up after
	# its timeout, says so, and leaves QMP alone.
	local t0=$SECONDS
	out=$("$agent" vm-wait-ready "$id" --state-dir "$state" --timeout 1)
	expect "$2 wait-ready times out without a guest" "true true false null" \
		"$(jget timed_out <<<"$out") $(jget running <<<"$out") $(jget ready <<<"$out") $(jget qmp <<<"$out")"
	[[ $((SECONDS - t0)) -ge 1 ]] && ok || bad "$2: vm-wait-ready returned before its timeout"
	# The firmware writes to the serial port: the log must grow.
	local first grew=0
	for _ in $(seq 1 120); do
		first=$(serial_size "$dir")
		[[ $first -gt 0 ]] && break
		sleep 0.5
	done
	for _ in $(seq 1 120); do
		[[ $(serial_size "$dir") -gt $first ]] && { grew=1; break; }
		sleep 0.5
	done
	[[ $first -gt 0 && $grew -eq 1 ]] && ok || bad "$2: serial.log did not grow ($first bytes)"
	# The first bytes may be escape sequences only (the tail drops them):
	# wait for the firmware's first line of text.
	for _ in $(seq 1 120); do
		out=$("$agent" vm-status "$id" --state-dir "$state")
		[[ -n $(jget serial_tail <<<"$out") ]] && break
		sleep 0.5
	done
	[[ -n $(jget serial_tail <<<"$out") ]] && ok || bad "$2: empty serial_tail"

	out=$("$agent" vm-stop "$id" --state-dir "$state" --timeout 1) || bad "$2: vm-stop failed"
	expect "$2 stop" true "$(jget was_running <<<"$out")"
	vm_alive=$(awk '/^State:/{print $2}' "/proc/$pid/status" 2>/dev/null)
	[[ -z $vm_alive || $vm_alive == Z ]] && ok || bad "$2: QEMU $pid still alive after vm-stop"
	out=$("$agent" vm-stop "$id" --state-dir "$state")
	expect "$2 second stop is a no-op" false "$(jget was_running <<<"$out")"
	out=$("$agent" vm-status "$id" --state-dir "$state")
	expect "$2 status after stop" "false null" "$(jget running <<<"$out") $(jget qmp <<<"$out")"

	# The VMM dies behind the agent's back: status says so and keeps the
	# serial tail; the stale pid file and socket do not stop a new start.
	pid=$(jget pid <<<"$("$agent" vm-start "$id" --state-dir "$state")")
	kill -9 "$pid"
	for _ in $(seq 1 100); do
		[[ $(awk '/^State:/{print $2}' "/proc/$pid/status" 2>/dev/null) =~ ^(Z|)$ ]] && break
		sleep 0.1
	done
	out=$("$agent" vm-status "$id" --state-dir "$state")
	expect "$2 status after the VMM died" "true false null" \
		"$(jget exists <<<"$out") $(jget running <<<"$out") $(jget qmp <<<"$out")"
	[[ -e $dir/run/qemu.pid ]] && ok || bad "$2: test premise: a killed QEMU leaves its pid file"
	out=$("$agent" vm-wait-ready "$id" --state-dir "$state" --timeout 60)
	expect "$2 wait-ready returns when the VMM is gone" "false false" \
		"$(jget timed_out <<<"$out") $(jget running <<<"$out")"
}

check_purge() { # id arch; purges a running VM
	local id=$1 user=${user_of[$1]} uid
	uid=$(id -u "$user")
	# Two starts at once: the VM's lock lets exactly one QEMU run.
	"$agent" vm-start "$id" --state-dir "$state" >"$state/start1.json" &
	"$agent" vm-start "$id" --state-dir "$state" >"$state/start2.json" || bad "$2: restart failed"
	wait $! || bad "$2: concurrent restart failed"
	expect "$2 concurrent starts agree on the pid" "$(jget pid <"$state/start1.json")" \
		"$(jget pid <"$state/start2.json")"
	expect "$2 concurrent starts: one started" "false true" \
		"$(cat "$state"/start[12].json | jget_lines started | sort | tr '\n' ' ' | sed 's/ $//')"
	expect "$2 QEMU processes for this VM" 1 "$(live_procs_of "$uid" qemu-system)"
	expect "$2 storage daemons for this VM" 1 "$(live_procs_of "$uid" qemu-storage)"
	expect "$2 processes of the VM user" 2 "$(live_procs_of "$uid")"
	local out
	out=$("$agent" vm-purge "$id" --state-dir "$state") || bad "$2: vm-purge failed"
	expect "$2 purge" true "$(jget existed <<<"$out")"
	id "$user" >/dev/null 2>&1 && bad "$2: user $user survives purge" || ok
	[[ -e $state/vms/$id ]] && bad "$2: dir survives purge" || ok
	expect "$2 live processes of the user after purge" 0 "$(live_procs_of "$uid")"
	out=$("$agent" vm-purge "$id" --state-dir "$state") || bad "$2: second vm-purge failed"
	expect "$2 second purge" false "$(jget existed <<<"$out")"
	out=$("$agent" vm-status "$id" --state-dir "$state")
	expect "$2 status after purge" false "$(jget exists <<<"$out")"
	out=$("$agent" vm-wait-ready "$id" --state-dir "$state" --timeout 60)
	expect "$2 wait-ready after purge" "false false" \
		"$(jget exists <<<"$out") $(jget timed_out <<<"$out")"
}

one_arch() { # arch code vars
	local id=vr${1}${suffix}0000000000000000000000000
	id=${id:0:26}
	ids+=("$id")
	check_prep "$id" "$@" && check_run "$id" "$1" && check_purge "$id" "$1"
}

bad_input() {
	local out rc
	out=$(spec "bad;id" x64 /usr/share/OVMF/OVMF_CODE.fd /usr/share/OVMF/OVMF_VARS.fd |
		"$agent" vm-prep --state-dir "$state" 2>&1)
	rc=$?
	expect "shell metacharacters in the id: exit status" 2 "$rc"
	[[ ! -e $state/vms ]] && ok || bad "a refused prep created $state/vms"
	out=$(spec "vrname$suffix" x64 /usr/share/OVMF/OVMF_CODE.fd /usr/share/OVMF/OVMF_VARS.fd |
		sed 's/"lifecycle-x64"/"web$(reboot)"/' | "$agent" vm-prep --state-dir "$state" 2>&1)
	expect "shell metacharacters in the name: exit status" 2 "$?"
	id "loam-vm-vrname$suffix" >/dev/null 2>&1 && bad "a refused prep created a user" || ok
	"$agent" vm-start "vrnone$suffix" --state-dir relative/dir >/dev/null 2>&1
	expect "relative state dir: exit status" 2 "$?"
	out=$("$agent" vm-start "vrnone$suffix" --state-dir "$state" 2>&1)
	expect "start of an unprepared VM: exit status" 1 "$?"
	grep -q "vm-prep" <<<"$out" && ok || bad "unprepared start does not say to run vm-prep: $out"
	"$agent" vm-stop 'x;y' --state-dir "$state" >/dev/null 2>&1
	expect "bad id on stop: exit status" 2 "$?"
	# 1 GiB hugepages wanted, none mounted here: start refuses, clearly.
	if ! grep -q 'hugetlbfs.*pagesize=1024M' /proc/mounts; then
		local id=vrhuge$suffix
		ids+=("$id")
		spec "$id" x64 /usr/share/OVMF/OVMF_CODE.fd /usr/share/OVMF/OVMF_VARS.fd |
			sed 's/"hugepages":false/"hugepages":true/; s/"memory_mib":256/"memory_mib":1024/' |
			"$agent" vm-prep --state-dir "$state" >/dev/null || bad "hugepage VM: vm-prep failed"
		out=$("$agent" vm-start "$id" --state-dir "$state" 2>&1)
		expect "hugepages without a 1G mount: exit status" 1 "$?"
		grep -q "hugetlbfs" <<<"$out" && ok || bad "hugepage refusal does not name hugetlbfs: $out"
		expect "hugepage VM not running" false "$("$agent" vm-status "$id" --state-dir "$state" | jget running)"
		"$agent" vm-purge "$id" --state-dir "$state" >/dev/null || bad "hugepage VM: purge failed"
	fi
}

bad_input
each_vm_arch one_arch
finish
