#!/usr/bin/env bash
# Attacks on the VM jail (issue 15), against real QEMU under TCG. As the
# VM's own user (setpriv), plant symlinks, FIFOs and lying pid files in
# run/, the one directory that user can write, pointing at a root-owned
# canary (a stand-in for /etc/shadow) and at a decoy root process; then
# start, ask, stop and purge the VM and check that root followed nothing:
# the canary is unchanged, the decoy lives, and the VM runs or fails with a
# clear reason. Also: QEMU runs as the VM user from /proc (never uid 0),
# with no new privileges and without -runas; the VM user cannot write the
# VM's directory; a file planted there by the old layout is refused.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
agent=${LOAM_BIN_DIR:?}/loam-host
command -v setpriv >/dev/null || { bad "setpriv (util-linux) is missing"; finish; }

state=$(mktemp -d /tmp/loam-jail.XXXXXX)
chmod 0755 "$state"
ids=()
decoy=
cleanup() {
	for id in "${ids[@]}"; do "$agent" vm-purge "$id" --state-dir "$state" >/dev/null 2>&1; done
	[[ -n $decoy ]] && kill "$decoy" 2>/dev/null
	rm -rf "$state"
}
trap cleanup EXIT

truncate -s 64M "$state/base.img"
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
 "image":"$state/base.img","fw_code":"$3","fw_vars":"$4","disk_gib":1,
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
	tr '\0' '\n' <"/proc/$2/cmdline" | grep -qx -- -runas && bad "$1: QEMU got -runas" || ok
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
	check_qemu_identity "$1" "$(jget pid <<<"$out")"
	"$agent" vm-stop "$id" --state-dir "$state" --timeout 0 >/dev/null
	attack_pidfile "$1"
	attack_start "$1"
	attack_vm_dir "$@"
	attack_purge "$1"
}

each_vm_arch one_arch
finish
