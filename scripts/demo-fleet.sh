#!/usr/bin/env bash
# `make demo-fleet` and `make demo-fleet-clean` (issue 18): a two-host
# fleet on this machine. This machine is the x64 host (cloudified with
# --local, TCG allowed, and allowed to emulate arm64 too); the arm64 host
# is a Debian 12 arm64 server whose own arm64 sshd runs under qemu-user on
# a loopback port (tests/hosts/debian-arm64.sh; its root is built once with
# mmdebstrap and cached), cloudified over SSH like any remote server: loamd
# learns that it is arm64 and installs the arm64 VMM, firmware, images and
# storage daemon there. It boots one loam-tiny VM of each arch (direct
# kernel: the arm64 VMM itself runs under qemu-user there, so firmware boots
# would take many minutes), each placed on the host of its own arch
# although this machine could emulate arm64, and prints which host and
# which binaries run each one. It returns once both run, leaving the fleet
# up; `demo-fleet.sh report` prints that again, `demo-fleet.sh clean`
# removes it all.
#
# It has its own loamd (127.0.0.1:7071, state dir /var/lib/loam-fleet) and
# address pool, so it runs beside `make demo`. Guest egress stays off.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/build/bin
# shellcheck source=scripts/demo-lib.sh
source "$ROOT/scripts/demo-lib.sh"
STATE=$(demo_state_dir loam-fleet)
LISTEN=127.0.0.1:7071
export LOAM_URL=http://$LISTEN
export LOAM_STATE_DIR=$STATE
PIDFILE=$STATE/loamd.pid
LOG=$STATE/loamd.log
HOSTS=$STATE/hosts # the arm64 host's sshd, keys and overlay root
ARM=arm64-debian   # its name in loam
VMS=(fleet-x64 fleet-arm64)
CLEAN="make demo-fleet-clean"
# The arm64 guest's VMM is itself emulated there: minutes, not seconds.
TIMEOUT_S=${LOAM_DEMO_TIMEOUT_S:-1200}
# Not make demo's pool (10.200.0.0/16): a VM's route is machine-wide.
POOL=10.201.0.0/16

host_json() { loam host show "$1" --json 2>/dev/null; }
vm_json() { loam vm show "$1" --json 2>/dev/null; }

# The arm64 host's sshd (started again if it is not running).
start_arm_host() {
	if [[ -f $HOSTS/hosts.env ]]; then
		# shellcheck disable=SC1091
		source "$HOSTS/hosts.env"
		if kill -0 "${ARM64_DEBIAN_PID:-0}" 2>/dev/null; then
			echo "  the arm64 host runs already (sshd pid $ARM64_DEBIAN_PID, port $ARM64_DEBIAN_PORT)"
			return
		fi
	fi
	mkdir -p "$HOSTS"
	echo "  building or taking its root from the cache, then starting its sshd (qemu-user)"
	bash "$ROOT/tests/hosts/start-ssh-hosts.sh" "$HOSTS" arm64-debian ||
		die "the arm64 host did not start"
	# shellcheck disable=SC1091
	source "$HOSTS/hosts.env"
	echo "  arm64 host: sshd pid $ARM64_DEBIAN_PID on 127.0.0.1:$ARM64_DEBIAN_PORT," \
		"root $ARM64_DEBIAN_ROOT ($(chroot "$ARM64_DEBIAN_ROOT" uname -m))"
}

# A command on the arm64 host, as root there, through its own sshd.
on_arm() {
	ssh -q -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$HOSTS/known_hosts" \
		-i "$SSH_KEY" -p "$ARM64_DEBIAN_PORT" root@127.0.0.1 "$@"
}

# True once the host accepts VMs with its VMM, firmware, image and storage
# daemon installed (and nothing failed or unavailable: that is an error).
host_ready() { # name
	local j bad
	j=$(host_json "$1") || return 1
	bad=$(jq -r '[.artifacts[] | select(.state == "failed" or .state == "unavailable")
		| "\(.component) \(.name) \(.version) (\(.arch)): \(.state) \(.error // "")"] | join("; ")' <<<"$j")
	[[ -z $bad ]] || die "host $1: $bad"
	jq -e '.state == "accepting" and
		([.artifacts[] | select(.state == "installed") | .component] as $c
		 | all("vmm", "firmware", "image", "storage"; . as $x | $c | index($x) != null))' \
		<<<"$j" >/dev/null
}

wait_hosts() {
	local t0=$SECONDS h line
	while :; do
		line="" ready=1
		for h in local "$ARM"; do
			if host_ready "$h"; then
				line+="$h: ready   "
			else
				ready=0
				line+="$h: $(host_json "$h" | jq -r '"\(.state) \(.label // "")"')   "
			fi
		done
		printf '\r  [%3ds] %-100.100s' $((SECONDS - t0)) "$line"
		((ready)) && break
		((SECONDS - t0 < TIMEOUT_S)) || die "the hosts did not get ready in ${TIMEOUT_S}s"
		sleep 2
	done
	echo
}

add_hosts() {
	if ! host_json local >/dev/null; then
		loam host add --local --no-wait >/dev/null
	fi
	# arm64 may be emulated here, so placing arm64 on the arm64 host is the
	# allocator's choice (its own arch first), not the only way.
	loam host set local --allow-tcg --emulate arm64 --cpu-overcommit 2 --ipv4-pool "$POOL" >/dev/null
	if ! host_json "$ARM" >/dev/null; then
		# loamd reads SSH keys only under its key roots (STATE/ssh).
		mkdir -p "$STATE/ssh"
		install -m 0600 "$SSH_KEY" "$STATE/ssh/$ARM"
		# The host key is pinned before the first contact: no trust on first use.
		loam host add 127.0.0.1 --name "$ARM" --ssh-port "$ARM64_DEBIAN_PORT" --ssh-user root \
			--ssh-key "$STATE/ssh/$ARM" --host-key "$ARM64_DEBIAN_HOST_KEY" --timeout "$TIMEOUT_S" ||
			die "adding the arm64 host failed"
	fi
	loam host set "$ARM" --allow-tcg --cpu-overcommit 2 >/dev/null
	echo "[127.0.0.1]:$ARM64_DEBIAN_PORT $ARM64_DEBIAN_HOST_KEY" >"$HOSTS/known_hosts"
	wait_hosts
	loam host ls
}

create_vms() {
	local vm
	pick_key
	for vm in "${VMS[@]}"; do
		vm_json "$vm" >/dev/null && continue
		loam vm create "$vm" --arch "${vm#fleet-}" --size standard-2 --image loam-tiny --boot kernel \
			--ssh-key "$KEY.pub" >/dev/null || die "creating $vm failed"
	done
}

# The agent's view of a VM's processes on its host: {"pid", "storage": {"pid"}}.
vm_status() { # vm
	local host id agent sdir
	host=$(vm_json "$1" | jq -r .host)
	id=$(vm_json "$1" | jq -r .id)
	agent=$(host_json "$host" | jq -r .agent_path)
	sdir=$(host_json "$host" | jq -r .state_dir)
	if [[ $host == "$ARM" ]]; then
		on_arm "$agent" vm-status "$id" --state-dir "$sdir"
	else
		"$agent" vm-status "$id" --state-dir "$sdir"
	fi
}

# The program a process runs, and what `file` says of it. Both hosts are
# this machine, so their processes are in this /proc. Under qemu-user
# (binfmt_misc with the P flag) /proc/PID/exe is the interpreter and the
# program it translates is argv[1]; on a real arm64 server exe is QEMU.
describe_process() { # pid root
	local pid=$1 root=$2 exe prog
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || { echo "pid $pid (gone)"; return; }
	prog=$exe
	if [[ $exe == *qemu-* && $exe != */qemu-system-* && $exe != */qemu-storage-daemon ]]; then
		prog=$(tr '\0' '\n' <"/proc/$pid/cmdline" | sed -n 2p)
		exe="$exe (qemu-user) running $prog"
	fi
	printf 'pid %s, uid %s: %s\n' "$pid" "$(stat -c %u "/proc/$pid")" "$exe"
	printf '                %s\n' "$(file -b "$root$prog" | cut -d, -f1-2)"
}

report() {
	say "loam host ls / loam vm ls"
	loam host ls
	loam vm ls
	local vm host root st
	for vm in "${VMS[@]}"; do
		host=$(vm_json "$vm" | jq -r .host)
		say "$vm: arch $(vm_json "$vm" | jq -r .arch), guest $(vm_json "$vm" | jq -r .guest_machine)," \
			"on host $host ($(host_json "$host" | jq -r '"\(.arch), accel \(.accel), " +
				(if .transport == "ssh" then "SSH to \(.address):\(.ssh_port)" else "this machine" end)'))"
		echo "  pinned versions (loam vm show $vm):"
		vm_json "$vm" | jq -r '.artifacts[] | "    \(.component)\t\(.name) \(.version) (\(.arch))"'
		root=/
		[[ $host == "$ARM" ]] && root=$ARM64_DEBIAN_ROOT
		st=$(vm_status "$vm")
		echo "  the processes running it (loam-host vm-status on $host, then /proc):"
		printf '    VMM           %s\n' "$(describe_process "$(jq -r .pid <<<"$st")" "${root%/}")"
		printf '    disk daemon   %s\n' "$(describe_process "$(jq -r .storage.pid <<<"$st")" "${root%/}")"
	done
	say "what next"
	cat <<EOF
  export PATH=$BIN:\$PATH LOAM_URL=$LOAM_URL LOAM_STATE_DIR=$STATE
  loam host show $ARM               the arm64 host: facts, what its emulation lacks, installs
  loam vm console fleet-arm64       the arm64 guest's console, booted on the arm64 host
  loam vm stop|start fleet-arm64    the life cycle on the arm64 host
  tail -f $LOG
  scripts/demo-fleet.sh report      this report again
  make demo-fleet-clean             remove the fleet (VMs, hosts, loamd, $STATE)
EOF
}

fleet() {
	[[ $(id -u) -eq 0 ]] || die "run it as root: it mounts the arm64 host's root and cloudifies this machine"
	build_all
	say "the arm64 host: a Debian 12 arm64 server under qemu-user, SSH on loopback"
	start_arm_host
	say "loamd"
	start_loamd --listen "$LISTEN"
	say "two hosts: this machine (x64, may emulate arm64) and $ARM over SSH"
	add_hosts
	say "one loam-tiny VM per arch, each placed by the allocator"
	create_vms
	wait_running "$TIMEOUT_S"
	report
}

clean() {
	if loamd_running; then
		local vm h
		for vm in "${VMS[@]}"; do loam vm rm "$vm" >/dev/null 2>&1 || true; done
		wait_vms_gone
		for h in "$ARM" local; do loam host rm "$h" >/dev/null 2>&1 || true; done
		stop_loamd
	fi
	purge_leftovers
	[[ -d $HOSTS ]] && bash "$ROOT/tests/hosts/stop-ssh-hosts.sh" "$HOSTS"
	rm -rf "$STATE"
	echo "demo-fleet-clean: removed the fleet's VMs, hosts, loamd and $STATE"
}

case "${1:-fleet}" in
fleet) fleet ;;
report)
	[[ -f $HOSTS/hosts.env ]] || die "no fleet is up (make demo-fleet)"
	# shellcheck disable=SC1091
	source "$HOSTS/hosts.env"
	report
	;;
clean) clean ;;
*) echo "usage: $0 [report|clean]" >&2; exit 2 ;;
esac
