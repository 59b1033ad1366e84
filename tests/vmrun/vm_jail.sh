#!/usr/bin/env bash
# Attacks on the VM jail (issue 15), against real QEMU under TCG. As the
# VM's own user (setpriv), plant symlinks, FIFOs and lying pid files in
# run/, the one directory that user can write, pointing at a root-owned
# canary (a stand-in for /etc/shadow) and at a decoy root process; then
# start, ask, stop and purge the VM and check that root followed nothing:
# the canary is unchanged, the decoy lives, and the VM runs or fails with a
# clear reason. Also: QEMU runs as the VM user from /proc (never uid 0),
# with no new privileges and without -runas; the VM user cannot write the
# VM's directory; a file planted there by the old layout is refused. The
# storage daemon runs in a jail of its own (check_daemon_jail). The learn
# report lists every part as active and none as missing (check_jail_fact).
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
agent=${LOAM_BIN_DIR:?}/loam-host
command -v setpriv >/dev/null || { bad "setpriv (util-linux) is missing"; finish; }

setup_state jail
decoy=
cleanup() {
	[[ -n $decoy ]] && kill "$decoy" 2>/dev/null
	cleanup_state
}
trap cleanup EXIT

truncate -s 64M "$state/base.img"
# A VMM bundle whose QEMU is a wrapper: it writes /proc/self/status at its
# first exec into run/ (its /run in the jail), then becomes the host's QEMU.
mkdir -p "$state/bundle/bin" "$state/bundle/lib" "$state/bundle/share"
for q in qemu-system-x86_64 qemu-system-aarch64; do
	cat >"$state/bundle/bin/$q" <<SH
#!/bin/sh
while IFS= read -r line; do echo "\$line"; done </proc/self/status >/run/exec-status
exec /usr/bin/$q "\$@"
SH
	chmod 0755 "$state/bundle/bin/$q"
done
ln -s "/usr/lib/$(uname -m)-linux-gnu/qemu" "$state/bundle/lib/qemu"
ln -s /usr/share/qemu "$state/bundle/share/qemu"
# The canary: root's, unreadable by anyone else. Its content is the pid of
# a decoy root process whose command line looks like a QEMU of loam's.
python3 -c 'import time; time.sleep(3600)' -pidfile qemu.pid &
decoy=$!
mkdir -m 0700 "$state/precious"
printf '%s\n' "$decoy" >"$state/canary"
echo keep >"$state/precious/file"
chmod 0600 "$state/canary"
canary_state() { stat -c '%U %a %s %Y %h' "$state/canary" && sha256sum <"$state/canary"; }
canary_before=$(canary_state)
canary_ok() { # what
	expect "$1: canary unchanged" "$canary_before" "$(canary_state)"
	kill -0 "$decoy" 2>/dev/null && ok || bad "$1: the decoy root process was killed"
	[[ -f $state/precious/file ]] && ok || bad "$1: a root directory outside the VM lost its file"
}

spec() { # id arch code vars
	cat <<JSON
{"id":"$1","name":"jail-$2","arch":"$2","vcpus":1,"memory_mib":256,"kvm":false,
 "image":"$state/base.img","fw_code":"$3","fw_vars":"$4","disk_gib":1,"vmm_dir":"$state/bundle",
 "seed":{"meta-data":"instance-id: $1\n","user-data":"#cloud-config\n"},"direct_kernel":null}
JSON
}

as_vm() { setpriv --reuid="$uid" --regid="$gid" --clear-groups --no-new-privs -- "$@"; }
status_of() { timeout 30 "$agent" vm-status "$id" --state-dir "$state"; }

check_qemu_identity() { # arch pid
	local st
	st=$(cat "/proc/$2/status")
	expect "$1 QEMU uids" "$uid $uid $uid $uid" "$(awk '/^Uid:/{print $2,$3,$4,$5}' <<<"$st")"
	expect "$1 QEMU gids" "$gid $gid $gid $gid" "$(awk '/^Gid:/{print $2,$3,$4,$5}' <<<"$st")"
	expect "$1 QEMU NoNewPrivs" 1 "$(awk '/^NoNewPrivs:/{print $2}' <<<"$st")"
	expect "$1 QEMU seccomp filter (-sandbox)" 2 "$(awk '/^Seccomp:/{print $2}' <<<"$st")"
	tr '\0' '\n' <"/proc/$2/cmdline" | grep -qx -- -runas && bad "$1: QEMU got -runas" || ok
	local ns
	for ns in net mnt pid ipc; do
		[[ $(readlink "/proc/$2/ns/$ns") != "$(readlink "/proc/self/ns/$ns")" ]] && ok ||
			bad "$1: QEMU shares the host's $ns namespace"
	done
	# The minimal root: no /etc, no /home, none of this test's files.
	[[ -e /proc/$2/root/usr/bin && -e /proc/$2/root/proc/1/status && -e /proc/$2/root/run/qemu.pid ]] &&
		ok || bad "$1: QEMU's root lacks /usr, /proc or /run"
	local f
	for f in /etc/shadow /etc/passwd /root "$state/canary" "$state/vms"; do
		[[ -e /proc/$2/root$f ]] && bad "$1: QEMU sees $f" || ok
	done
	# The logs reach QEMU as pipes to the capped logger (the init), never
	# as the files themselves.
	local links
	links=$(for f in /proc/"$2"/fd/*; do readlink "$f"; done)
	grep -q '\(serial\|console\)\.log$' <<<"$links" && bad "$1: QEMU holds a log file: $links" || ok
	grep -q '^pipe:' <<<"$links" && ok || bad "$1: QEMU has no log pipe"
	expect "$1 QEMU's core size limit" 0 "$(awk '/^Max core file size/{print $5}' "/proc/$2/limits")"
	expect "$1 QEMU's open file limit" 4096 "$(awk '/^Max open files/{print $4}' "/proc/$2/limits")"
	grep -q "/loam/vm-$id\$" "/proc/$2/cgroup" && ok || bad "$1: QEMU is not in its cgroup: $(cat "/proc/$2/cgroup")"
	if [[ -d /sys/fs/cgroup/pids/loam/vm-$id ]]; then
		expect "$1 cgroup v1 pids cap (QEMU 256 + storage daemon 64)" 320 \
			"$(cat "/sys/fs/cgroup/pids/loam/vm-$id/pids.max")"
		expect "$1 cgroup v1 CPU quota (1 vCPU)" 100000 "$(cat "/sys/fs/cgroup/cpu/loam/vm-$id/cpu.cfs_quota_us")"
		expect "$1 cgroup v1 memory (256 MiB + 32 + 256 + daemon 64 + TCG 512)" \
			$(((256 + 32 + 256 + 64 + 512) << 20)) \
			"$(cat "/sys/fs/cgroup/memory/loam/vm-$id/memory.limit_in_bytes")"
	fi
	# At its first exec, before QEMU set anything up: the wrapper of the
	# test's bundle wrote /proc/self/status into run/.
	expect "$1 uids at exec" "$uid $uid $uid $uid" "$(awk '/^Uid:/{print $2,$3,$4,$5}' "$run/exec-status")"
	expect "$1 NoNewPrivs at exec" 1 "$(awk '/^NoNewPrivs:/{print $2}' "$run/exec-status")"
	expect "$1 CapEff at exec" 0000000000000000 "$(awk '/^CapEff:/{print $2}' "$run/exec-status")"
}

plant_in_run() { # every file name the VM uses, as a symlink to the canary
	local f
	for f in qemu.pid qmp.sock serial.log console.log disk.qcow2 disk.sock VARS.fd seed.img vm.json; do
		as_vm ln -sfn "$state/canary" "$run/$f" || bad "plant $f"
	done
	as_vm ln -sfn "$state/precious" "$run/sub" || bad "plant sub"
}

attack_pidfile() { # arch: lying pid files in run/ while the VM is stopped
	local out
	# A plain pid file of the VM user naming the decoy root process.
	as_vm sh -c "echo $decoy >'$run/qemu.pid'" || bad "$1: write pid file as the VM user"
	out=$(status_of)
	expect "$1 a pid file naming a root process: not running" "false null" \
		"$(jget running <<<"$out") $(jget pid <<<"$out")"
	out=$("$agent" vm-stop "$id" --state-dir "$state" --timeout 0)
	expect "$1 stop leaves a root process named by the pid file alone" false "$(jget was_running <<<"$out")"
	canary_ok "$1 lying pid file"
	# The pid file a symlink to the canary (which holds the decoy's pid).
	as_vm ln -sfn "$state/canary" "$run/qemu.pid"
	out=$(status_of)
	expect "$1 a symlinked pid file: not running" false "$(jget running <<<"$out")"
	"$agent" vm-stop "$id" --state-dir "$state" --timeout 0 >/dev/null
	canary_ok "$1 symlinked pid file"
	# A FIFO: nothing may block on it.
	as_vm rm -f "$run/qemu.pid"
	as_vm mkfifo "$run/qemu.pid"
	out=$(status_of) && ok || bad "$1: vm-status hung or failed on a FIFO pid file"
	expect "$1 a FIFO pid file: not running" false "$(jget running <<<"$out")"
	# A hardlink to the canary: the kernel refuses the VM user
	# (fs.protected_hardlinks); root plants it as an attacker could where
	# that protection is off.
	as_vm rm -f "$run/qemu.pid"
	as_vm ln "$state/canary" "$run/hardlink" 2>/dev/null && bad "$1: VM user hardlinked root's file" || ok
	ln "$state/canary" "$run/qemu.pid"
	canary_before=$(canary_state)
	out=$(status_of)
	expect "$1 a hardlinked pid file: not running" false "$(jget running <<<"$out")"
	canary_ok "$1 hardlinked pid file"
	rm -f "$run/qemu.pid"
	canary_before=$(canary_state)
}

# The storage daemon's own jail: the VM user with only its group, no new
# privileges, namespaces neither the host's nor QEMU's, a minimal root with
# run/ as /run, rlimits, the VM's cgroup; both name its socket disk.sock in
# their working directory, /run.
check_daemon_jail() { # arch qemu-pid
	local daemon st ns f
	read -r _ daemon _ <"$dir/storage.pid"
	[[ $daemon =~ ^[0-9]+$ && -d /proc/$daemon ]] || {
		bad "$1: no storage daemon in storage.pid: $(cat "$dir/storage.pid")"
		return
	}
	st=$(cat "/proc/$daemon/status")
	expect "$1 daemon uids" "$uid $uid $uid $uid" "$(awk '/^Uid:/{print $2,$3,$4,$5}' <<<"$st")"
	expect "$1 daemon gids" "$gid $gid $gid $gid" "$(awk '/^Gid:/{print $2,$3,$4,$5}' <<<"$st")"
	expect "$1 daemon groups: the VM's only" "$gid" "$(awk '/^Groups:/{print $2,$3}' <<<"$st" | xargs)"
	expect "$1 daemon NoNewPrivs" 1 "$(awk '/^NoNewPrivs:/{print $2}' <<<"$st")"
	expect "$1 daemon CapEff" 0000000000000000 "$(awk '/^CapEff:/{print $2}' <<<"$st")"
	for ns in net mnt pid ipc; do
		[[ $(readlink "/proc/$daemon/ns/$ns") != "$(readlink "/proc/self/ns/$ns")" ]] && ok ||
			bad "$1: the daemon shares the host's $ns namespace"
	done
	[[ $(readlink "/proc/$daemon/ns/mnt") != "$(readlink "/proc/$2/ns/mnt")" ]] && ok ||
		bad "$1: the daemon shares QEMU's mount namespace"
	[[ -S /proc/$daemon/root/run/disk.sock && -e /proc/$daemon/root/proc/1/status ]] && ok ||
		bad "$1: the daemon's root lacks /run/disk.sock or /proc"
	for f in /etc/shadow /etc/passwd /root "$state/canary" "$state/vms"; do
		[[ -e /proc/$daemon/root$f ]] && bad "$1: the daemon sees $f" || ok
	done
	expect "$1 daemon's core size limit" 0 "$(awk '/^Max core file size/{print $5}' "/proc/$daemon/limits")"
	expect "$1 daemon's open file limit" 1024 "$(awk '/^Max open files/{print $4}' "/proc/$daemon/limits")"
	grep -q "/loam/vm-$id\$" "/proc/$daemon/cgroup" && ok ||
		bad "$1: the daemon is not in the VM's cgroup: $(cat "/proc/$daemon/cgroup")"
	tr '\0' '\n' <"/proc/$daemon/cmdline" | grep -q 'addr.path=disk.sock$' && ok ||
		bad "$1: the daemon does not serve /run/disk.sock"
	tr '\0' '\n' <"/proc/$2/cmdline" | grep -q '^socket,id=disk0,path=disk.sock,' && ok ||
		bad "$1: QEMU does not reach /run/disk.sock"
}

attack_start() { # arch: symlinks for every file, then start, status, stop
	local out pid
	plant_in_run
	out=$("$agent" vm-start "$id" --state-dir "$state") || bad "$1: start with planted links failed"
	pid=$(jget pid <<<"$out")
	[[ $pid =~ ^[0-9]+$ ]] && check_qemu_identity "$1 (planted)" "$pid"
	expect "$1 QEMU wrote its own pid file" "$uid regular file" "$(stat -c '%u %F' "$run/qemu.pid")"
	out=$(status_of)
	expect "$1 status after the attack" "true running" "$(jget running <<<"$out") $(jget qmp <<<"$out")"
	out=$("$agent" vm-stop "$id" --state-dir "$state" --timeout 0)
	expect "$1 stop" true "$(jget was_running <<<"$out")"
	canary_ok "$1 symlinks in run/ across start, status and stop"
}

attack_vm_dir() { # arch: the VM's own directory is out of the user's reach
	as_vm ln -sfn "$state/canary" "$dir/serial.log" 2>/dev/null &&
		bad "$1: the VM user wrote into the VM's directory" || ok
	# The disk is the storage daemon's, which reopens its fd through
	# /proc/self/fd: the VM's group may write it (0660), never replace it.
	as_vm mv "$dir/disk.qcow2" "$dir/moved" 2>/dev/null && bad "$1: the VM user moved the disk" || ok
	as_vm rm -f "$dir/disk.qcow2" 2>/dev/null
	expect "$1 the disk: root's, the VM group's, 0660" "0 $gid 660 regular file" \
		"$(stat -c '%u %g %a %F' "$dir/disk.qcow2")"
	# A VM prepared before the jail: its user could plant a link there.
	rm -f "$dir/serial.log"
	ln -s "$state/canary" "$dir/serial.log"
	chown -h "$uid:$gid" "$dir/serial.log"
	local out
	out=$("$agent" vm-start "$id" --state-dir "$state" 2>&1)
	expect "$1 start with a planted serial.log: exit status" 1 "$?"
	contains "$1 the refusal names the file" "serial.log" "$out"
	canary_ok "$1 planted serial.log"
	spec "$id" "$1" "$2" "$3" | "$agent" vm-prep --state-dir "$state" >/dev/null || bad "$1: re-prep failed"
	[[ -L $dir/serial.log ]] && bad "$1: vm-prep kept the planted link" || ok
	out=$("$agent" vm-start "$id" --state-dir "$state") || bad "$1: start after re-prep failed"
	"$agent" vm-stop "$id" --state-dir "$state" --timeout 0 >/dev/null
	canary_ok "$1 after re-prep and start"
}

qemu_opened_canary() { # pid
	local f
	for f in /proc/"$1"/fd/*; do
		[[ $(readlink "$f") == "$state/canary" ]] && return 0
	done
	return 1
}

attack_backing() { # arch: the disk's qcow2 header names the canary as its backing file
	# Written as root: only QEMU, through its fd, could write the header;
	# the VM user cannot reach the file.
	qemu-img rebase -u -f qcow2 -b "$state/canary" -F raw "$dir/disk.qcow2" || bad "$1: rebase"
	local out pid
	out=$("$agent" vm-start "$id" --state-dir "$state") || bad "$1: start with a hostile backing file failed: $out"
	pid=$(jget pid <<<"$out")
	[[ $pid =~ ^[0-9]+$ ]] && ! qemu_opened_canary "$pid" && ok || bad "$1: QEMU opened the canary"
	"$agent" vm-stop "$id" --state-dir "$state" --timeout 0 >/dev/null
	canary_ok "$1 hostile backing file"
}

attack_spec() { # arch code vars: vm.json swapped, or naming its own VMM
	local out
	as_vm sh -c "printf '%s' '{\"id\":\"$id\"}' >'$run/evil.json'"
	mv "$dir/vm.json" "$dir/vm.json.real"
	ln -s "$run/evil.json" "$dir/vm.json"
	out=$("$agent" vm-start "$id" --state-dir "$state" 2>&1)
	expect "$1 start with vm.json a link into run/: exit status" 1 "$?"
	contains "$1 the refusal names vm.json" "vm.json" "$out"
	rm "$dir/vm.json"
	cp "$dir/vm.json.real" "$dir/vm.json"
	chown "$uid" "$dir/vm.json"
	out=$("$agent" vm-start "$id" --state-dir "$state" 2>&1)
	expect "$1 start with a vm.json of the VM user's: exit status" 1 "$?"
	contains "$1 the refusal says it is not root's" "owned by root" "$out"
	mv "$dir/vm.json.real" "$dir/vm.json"
	out=$(spec "$id" "$1" "$2" "$3" | python3 -c 'import json,sys; j=json.load(sys.stdin); j["qemu"]="/bin/sh"; print(json.dumps(j))' |
		"$agent" vm-prep --state-dir "$state" 2>&1)
	expect "$1 a spec naming its own VMM binary: exit status" 2 "$?"
	contains "$1 the refusal says why" "may not name the VMM binary" "$out"
	canary_ok "$1 swapped vm.json"
}

alive() { [[ $(awk '/^State:/{print $2}' "/proc/$1/status" 2>/dev/null) =~ ^[^ZX]$ ]]; }

attack_leftover() { # arch: processes of the VM user outlive neither a stop nor a start
	local out left
	"$agent" vm-start "$id" --state-dir "$state" >/dev/null || bad "$1: start failed"
	left=$(as_vm sh -c 'sleep 3600 </dev/null >/dev/null 2>&1 & echo $!')
	"$agent" vm-stop "$id" --state-dir "$state" --timeout 0 >/dev/null
	alive "$left" && bad "$1: a process of the VM user survives vm-stop: $(grep State "/proc/$left/status")" || ok
	left=$(as_vm sh -c 'sleep 3600 </dev/null >/dev/null 2>&1 & echo $!')
	out=$("$agent" vm-start "$id" --state-dir "$state") || bad "$1: start failed"
	alive "$left" && bad "$1: a process of the VM user survives vm-start" || ok
	expect "$1 the VM runs after the leftovers went" true "$(jget running <<<"$(status_of)")"
	"$agent" vm-stop "$id" --state-dir "$state" --timeout 0 >/dev/null
	expect "$1 processes of the VM user after stop" 0 "$(live_procs_of "$uid")"
	canary_ok "$1 leftover processes"
}

attack_purge() { # arch: purge with links planted everywhere in run/
	plant_in_run
	"$agent" vm-purge "$id" --state-dir "$state" >/dev/null || bad "$1: purge failed"
	[[ -e $dir ]] && bad "$1: VM dir survives purge" || ok
	canary_ok "$1 purge"
}

one_arch() { # arch code vars
	id=vj${1}$(printf '%x%x' $$ "$(date +%s)")
	ids+=("$id")
	dir=$state/vms/$id run=$state/vms/$id/run
	local out
	out=$(spec "$id" "$@" | "$agent" vm-prep --state-dir "$state") || { bad "$1: vm-prep failed"; return; }
	uid=$(jget uid <<<"$out")
	gid=$(id -g "$(jget user <<<"$out")")
	[[ $uid -gt 0 ]] && ok || bad "$1: VM user uid $uid"
	out=$("$agent" vm-start "$id" --state-dir "$state") || { bad "$1: vm-start failed"; return; }
	echo "info: $1: the jail added $(jget jail_ms <<<"$out") ms to this start" >&2
	check_qemu_identity "$1" "$(jget pid <<<"$out")"
	check_daemon_jail "$1" "$(jget pid <<<"$out")"
	"$agent" vm-stop "$id" --state-dir "$state" --timeout 0 >/dev/null
	attack_pidfile "$1"
	attack_start "$1"
	attack_vm_dir "$@"
	attack_backing "$1"
	attack_spec "$@"
	attack_leftover "$1"
	attack_purge "$1"
}

# This host (native, root) gives every part: the learn report names them
# all and leaves none out, so no part of the jail above weakened silently.
check_jail_fact() {
	local facts
	facts=$("$agent" learn --storage-dir "$state") || { bad "learn failed"; return; }
	expect "jail fact: every part" \
		"sandbox, mountns, pidns, ipcns, netns, pivot_root, $(jail_cgroup_part), rlimits" \
		"$(jget jail <<<"$facts")"
	expect "jail fact: nothing left out" "[]" "$(jget jail_missing <<<"$facts")"
}
jail_cgroup_part() {
	if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then echo "cgroup v2 cpu+memory+pids"
	else echo "cgroup v1 cpu+memory+pids"; fi
}

check_jail_fact
each_vm_arch one_arch
finish
