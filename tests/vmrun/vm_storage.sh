#!/usr/bin/env bash
# The storage daemon per VM (issue 14 items 1-2), against real QEMU under TCG
# through the agent's VM verbs, for each arch: the loam-tiny guest boots by
# direct kernel with loam.diskprobe, so its init reads a block of its disk
# every second past the page cache and says so on the serial console
# ("LOAM-DISK read=<n> ok"). Checked:
#   - exactly one qemu-storage-daemon per VM, running as the VM's user,
#     /proc/PID/exe the pinned storage bundle's file; QEMU has no -drive for
#     the disk and attaches vhost-user-blk-pci;
#   - kill -9 of the daemon: a new one serves within 10 s, QEMU's pid is the
#     same (no reboot), and the guest's reads go on (a later LOAM-DISK line);
#   - three failed restarts (the daemon's binary gone): vm-status reports
#     the failure with the daemon's log tail; a new start clears it;
#   - vm-stop ends QEMU, the daemon and its supervisor.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
agent=${LOAM_BIN_DIR:?}/loam-host
root=${LOAM_SOURCE_DIR:?}
store=${LOAM_ARTIFACT_STORE:-$root/build/artifacts/store}
require_store "$store"
host_arch=$(uname -m)
[[ $host_arch == x86_64 ]] && host_arch=x64
[[ $host_arch == aarch64 ]] && host_arch=arm64

state=$(mktemp -d /tmp/loam-storage.XXXXXX)
chmod 0755 "$state"
ids=()
cleanup() {
	for id in "${ids[@]}"; do "$agent" vm-purge "$id" --state-dir "$state" >/dev/null 2>&1; done
	rm -rf "$state"
}
trap cleanup EXIT
suffix=$(printf '%x%x' $$ "$(date +%s)")
unpack() { store_unpack "$store" "$state/art" "$@"; } # component name arch

vmm=$(unpack vmm qemu "$host_arch") || finish
qsd=$(unpack storage qemu-storage-daemon "$host_arch") || finish
daemon_bin=$qsd/bin/qemu-storage-daemon

spec() { # id arch img
	local kernel=$3/vmlinuz
	[[ $2 == x64 && -f $3/vmlinux ]] && kernel=$3/vmlinux
	cat <<JSON
{"id":"$1","name":"st-$1","arch":"$2","vcpus":1,"memory_mib":256,"kvm":false,
 "image":"$(ls "$3"/loam-tiny.*.img)","fw_code":"$4","fw_vars":"$5","disk_gib":1,
 "vmm_dir":"$vmm","storage_dir":"$qsd","seed":null,
 "direct_kernel":{"kernel":"$kernel","initrd":"$3/initrd.img",
  "cmdline":"$(cat "$3/cmdline") loam.diskprobe","firmware":false}}
JSON
}

status_of() { "$agent" vm-status "$id" --state-dir "$state"; }
storage_field() { status_of | python3 -c 'import json,sys; s=json.load(sys.stdin)["storage"]; v=s and s.get(sys.argv[1]); print(v if isinstance(v,str) else json.dumps(v))' "$1"; }
# The highest n of the "LOAM-DISK read=<n> ok" lines so far (0: none).
last_read() { grep -ao 'LOAM-DISK read=[0-9]* ok' "$state/vms/$id/serial.log" | awk -F'[= ]' 'END{print $3+0}'; }

check_daemon() { # arch pid uid
	local st
	st=$(cat "/proc/$2/status")
	expect "$1 daemon uids" "$3 $3 $3 $3" "$(awk '/^Uid:/{print $2,$3,$4,$5}' <<<"$st")"
	expect "$1 daemon NoNewPrivs" 1 "$(awk '/^NoNewPrivs:/{print $2}' <<<"$st")"
	expect "$1 daemon is the pinned binary" "$daemon_bin" "$(readlink "/proc/$2/exe")"
	expect "$1 one storage daemon for the VM" 1 "$(live_procs_of "$3" qemu-storage)"
}

check_qemu_argv() { # arch pid
	local words
	words=$(tr '\0' '\n' <"/proc/$2/cmdline")
	grep -q 'disk.qcow2\|id=disk0,format' <<<"$words" && bad "$1: QEMU names the disk file" || ok
	expect "$1 QEMU's -drive options (the seed's only; none here)" 0 "$(grep -cx -- -drive <<<"$words")"
	grep -q '^vhost-user-blk-pci,chardev=disk0' <<<"$words" && ok || bad "$1: no vhost-user-blk-pci"
	grep -q "^socket,id=disk0,path=$state/vms/$id/run/disk.sock,reconnect=1$" <<<"$words" && ok ||
		bad "$1: no reconnecting disk chardev"
}

kill_and_resume() { # arch qemu_pid daemon_pid
	local n0 new
	n0=$(last_read)
	killed=$3
	kill -9 "$killed"
	new_daemon() { new=$(storage_field pid) && [[ $new =~ ^[0-9]+$ && $new != "$killed" ]]; }
	until_true 10 "$1: a new storage daemon within 10 s of kill -9" new_daemon && ok
	expect "$1 QEMU survived the daemon (same pid)" "$2" "$(jget pid <<<"$(status_of)")"
	expect "$1 restarts counted" 1 "$(storage_field restarts)"
	# Reads that began after the kill went through the new daemon.
	resumed() { (($(last_read) >= n0 + 3)); }
	until_true 120 "$1: guest disk reads after the kill (before it: $n0)" resumed && ok
	grep -aq 'LOAM-DISK read=[0-9]* failed' "$state/vms/$id/serial.log" &&
		bad "$1: a guest read failed" || ok
	expect "$1 no reboot: one LOAM-READY" 1 "$(grep -ac LOAM-READY "$state/vms/$id/serial.log")"
}

three_failures() { # arch daemon_pid
	mv "$daemon_bin" "$daemon_bin.gone"
	kill -9 "$2"
	gave_up() { [[ $(storage_field failed) != null ]]; }
	until_true 30 "$1: the supervisor to give up" gave_up && ok
	local why
	why=$(storage_field failed)
	contains "$1 failure: the count" "failed 3 times in a row" "$why"
	contains "$1 failure: the daemon's log" "qemu-storage-daemon" "$why"
	expect "$1 failure: no daemon" null "$(storage_field pid)"
	mv "$daemon_bin.gone" "$daemon_bin"
}

one_arch() { # arch fw_code fw_vars
	local img out pid daemon uid
	img=$(unpack image loam-tiny "$1") || return
	id=st$1$suffix && ids+=("$id")
	out=$(spec "$id" "$1" "$img" "$2" "$3" | "$agent" vm-prep --state-dir "$state") ||
		{ bad "$1: vm-prep failed"; return; }
	uid=$(jget uid <<<"$out")
	out=$("$agent" vm-start "$id" --state-dir "$state") || { bad "$1: vm-start failed: $out"; return; }
	pid=$(jget pid <<<"$out")
	reading() { (($(last_read) >= 1)); }
	until_true 300 "$1: the guest's first disk read" reading || return
	daemon=$(storage_field pid)
	[[ $daemon =~ ^[0-9]+$ ]] || { bad "$1: vm-status has no storage daemon"; return; }
	expect "$1 storage running" true "$(storage_field running)"
	check_daemon "$1" "$daemon" "$uid"
	check_qemu_argv "$1" "$pid"
	kill_and_resume "$1" "$pid" "$daemon"
	three_failures "$1" "$(storage_field pid)"
	out=$("$agent" vm-stop "$id" --state-dir "$state" --timeout 0)
	expect "$1 stop" true "$(jget was_running <<<"$out")"
	out=$("$agent" vm-start "$id" --state-dir "$state") || bad "$1: start after the failure: $out"
	expect "$1 a new start clears the failure" null "$(storage_field failed)"
	"$agent" vm-stop "$id" --state-dir "$state" --timeout 0 >/dev/null
	expect "$1 after stop: no process of the VM user" 0 "$(live_procs_of "$uid")"
	expect "$1 after stop: no storage record" null "$(jget storage <<<"$(status_of)")"
}

each_vm_arch one_arch
finish
