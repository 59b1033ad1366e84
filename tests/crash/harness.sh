#!/usr/bin/env bash
# The crash harness (issue 7 item 1): real loamd (the sanitizer build, which
# has the fault points of src/lib/fault.h), a temp state dir, a free port and
# SQLite; the local host cloudified with TCG; a workload of VM creates, stops,
# starts and destroys; and loamd SIGKILLed N times along the way, restarted
# after each kill. The kills rotate through:
#   - fault points (LOAM_FAULT=name:count, count picked at random): inside a
#     DB transaction before COMMIT, right after a host command returned and
#     before the DB records it, right after a prog label ran;
#   - mid-install: SIGKILL while the agent's `install` (the artifact
#     download, a detached job of the host's agent) is running, during
#     cloudify;
#   - a random delay (0.2 to 4 s) after the workload step was sent.
# After each restart: every VM the harness saw created still exists unless it
# was destroyed (none lost) and is still the row it first saw (same id: no
# create applied twice), every VM row has its live strand (none stranded),
# and every host's used counters equal the sum over its VMs (the
# allocator's SQL over-commit check, run here with sqlite3). At the end,
# after convergence (bounded wait): every VM is running, or gone if
# destroyed; a VM that ends failed fails the run (the harness causes no VM
# failure: kills must not); every running VM has exactly one VMM process
# (and one storage daemon, once VMs have them); no orphan QEMU process,
# per-VM user, VM directory or *.tmp.* file on the host beyond what live
# VMs own, and no network namespace, veth, dnsmasq or pool address of a
# gone VM (also after one kill mid-destroy: fault point vm-destroy-purged,
# after the host purged the VM and before the database released it).
#
# Usage: harness.sh [KILLS]   (default 20, the quick tier; 100 for torture)
#   env LOAM_CRASH_KILLS, LOAM_CRASH_SEED, LOAM_CRASH_CONVERGE_S (default 600)
#   LOAM_ARTIFACT_STORE, LOAM_BIN_DIR (default build/check/bin), LOAM_DIST_DIR
# Prints a summary line and "N passed, N failed"; exits 0 only when nothing
# failed, 77 (skip) without the artifact store.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
src=${LOAM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${LOAM_BIN_DIR:-$src/build/check/bin}
store=${LOAM_ARTIFACT_STORE:-$src/build/artifacts/store}
dist=${LOAM_DIST_DIR:-$src/build/dist}
kills=${1:-${LOAM_CRASH_KILLS:-20}}
converge_s=${LOAM_CRASH_CONVERGE_S:-600}
RANDOM=${LOAM_CRASH_SEED:-$$}
require_store "$store"


state=$(mktemp -d /tmp/loam-crash.XXXXXX)
# `vm create` gives the VMs this key (~/.ssh/id_ed25519.pub under HOME)
use_test_key "$state" || exit 1
chmod 0755 "$state"
port=$(free_port)
export LOAM_URL=http://127.0.0.1:$port LOAM_STATE_DIR=$state
db=$state/loam.db
loamd_pid=
cleanup() {
	[[ -n $loamd_pid ]] && kill -KILL "$loamd_pid" 2>/dev/null && { wait "$loamd_pid"; } 2>/dev/null
	local agent
	agent=$(find "$state/host/agent" -name loam-host 2>/dev/null | head -n1)
	for d in "$state"/host/vms/*/; do
		[[ -d $d && -n $agent ]] && "$agent" vm-purge "$(basename "$d")" --state-dir "$state/host" >/dev/null 2>&1
	done
	[[ -n ${LOAM_CRASH_KEEP:-} ]] && { echo "kept $state"; return; }
	rm -rf "$state"
}
trap cleanup EXIT

loam() { timeout 30 "$bin/loam" "$@"; }
sql() { sqlite3 -readonly -cmd '.timeout 5000' "$db" "$@"; }

# ---- loamd: start, kill, restart ----
boots=0
start_loamd() { # [LOAM_FAULT spec]
	boots=$((boots + 1))
	echo "--- boot $boots fault=${1:-none}" >>"$state/loamd.log"
	LOAM_FAULT=${1:-} "$bin/loamd" --state-dir "$state" --listen "127.0.0.1:$port" \
		--dist-dir "$dist" --artifact-store "$store" --heartbeat-s 3 --lease-s 10 >>"$state/loamd.log" 2>&1 &
	loamd_pid=$!
	for ((i = 0; i < 60; i++)); do
		loam sizes >/dev/null 2>&1 && return 0
		kill -0 "$loamd_pid" 2>/dev/null || break
		sleep 0.5
	done
	# A fault point may fire during recovery itself: that is a kill too.
	kill -0 "$loamd_pid" 2>/dev/null && { bad "loamd did not answer after boot $boots"; return 1; }
	{ wait "$loamd_pid"; } 2>/dev/null
	loamd_pid=
	return 2
}
loamd_dead() { ! kill -0 "$loamd_pid" 2>/dev/null; }
# wait_dead SECONDS: true when loamd died by itself (a fault point fired).
wait_dead() {
	for ((i = 0; i < $1 * 10; i++)); do
		loamd_dead && return 0
		sleep 0.1
	done
	return 1
}
kill_loamd() {
	kill -KILL "$loamd_pid" 2>/dev/null
	{ wait "$loamd_pid"; } 2>/dev/null
	loamd_pid=
}
host_accepting() { [[ $(sql "SELECT allocation_state FROM host") == accepting ]]; }
install_running() { pgrep -P "$loamd_pid" -f 'loam-host.* install' >/dev/null 2>&1 || pgrep -f "$state/host/agent/.*install" >/dev/null 2>&1; }

# ---- invariants ----
# caused: VMs the harness made fail on purpose (none today; a VM failed
# for any other reason is a bug the kills exposed).
declare -A created=() destroyed=() seen_ids=() first_id=() caused=()
overcommit_sql="SELECT count(*) FROM host h LEFT JOIN (SELECT host_id, sum(cores) AS c,
 sum(memory_gib) AS m, sum(CASE WHEN hugepages <> 0 THEN memory_gib ELSE 0 END) AS hp
 FROM vm WHERE host_id IS NOT NULL GROUP BY host_id) u ON u.host_id = h.id
 WHERE h.used_cores > h.total_cores * h.cpu_overcommit
 OR (h.total_hugepages_1g > 0 AND h.used_hugepages_1g > h.total_hugepages_1g)
 OR (h.total_hugepages_1g = 0 AND h.used_memory_gib > h.total_mem_gib)
 OR h.used_cores <> coalesce(u.c, 0) OR h.used_memory_gib <> coalesce(u.m, 0)
 OR h.used_hugepages_1g <> coalesce(u.hp, 0)"
overcommits=0 lost=0 recreated=0 stranded=0
check_db() { # after every restart
	local n
	n=$(sql "$overcommit_sql") || {
		bad "sqlite3 over-commit query"
		return
	}
	if ((n != 0)); then
		overcommits=$((overcommits + n))
		bad "over-commit check: $n host(s) whose counters differ from their VMs"
		sql "SELECT name, used_cores, used_memory_gib FROM host; SELECT name, host_id, cores, memory_gib, state FROM vm" >&2
	else ok; fi
	# A VM row whose strand is gone or finished can never change again.
	n=$(sql "SELECT count(*) FROM vm v LEFT JOIN strand s ON s.id = v.id WHERE s.id IS NULL OR s.done <> 0")
	if ((n != 0)); then
		stranded=$((stranded + n))
		bad "$n VM(s) without a live strand: $(sql "SELECT v.name FROM vm v LEFT JOIN strand s ON s.id = v.id WHERE s.id IS NULL OR s.done <> 0" | tr '\n' ' ')"
	else ok; fi
	local name id
	for name in "${!created[@]}"; do
		[[ -n ${destroyed[$name]:-} ]] && continue
		id=$(sql "SELECT id FROM vm WHERE name = '$name'")
		if [[ -z $id || $id == *$'\n'* ]]; then
			lost=$((lost + 1))
			bad "VM $name was created and is lost (rows: '${id//$'\n'/ }')"
		elif [[ -n ${first_id[$name]:-} && ${first_id[$name]} != "$id" ]]; then
			recreated=$((recreated + 1))
			bad "VM $name is another row now ($id, first ${first_id[$name]}): a create applied twice"
		else
			first_id[$name]=$id
		fi
	done
	local id
	for id in $(sql "SELECT id FROM vm"); do seen_ids[$id]=1; done
}

vm_user() { # the agent's per-VM user name (src/host/vm_spec.c)
	local id=$1
	if ((${#id} <= 24)); then
		echo "loam-vm-$id"
	else
		echo "loam-vm-${id:0:16}$(printf '%s' "$id" | sha256sum | cut -c1-8)"
	fi
}
# A gone VM's network (docs/network.md): no namespace, veth, dnsmasq or
# net dir on the host, no address row, and every host's pool count equal
# to its VMs.
check_net_orphans() { # " live ids "
	local id veth n
	for id in "${!seen_ids[@]}"; do
		[[ $1 == *" $id "* ]] && continue
		ip netns list | grep -qw "loam-$id" && orphan "netns loam-$id of gone VM $id"
		veth=lvh$(printf %s "$id" | sha256sum | cut -c1-12)
		ip link show "$veth" >/dev/null 2>&1 && orphan "veth $veth of gone VM $id"
		pgrep -f "dnsmasq.*/net/$id/" >/dev/null && orphan "dnsmasq of gone VM $id"
		[[ -e $state/host/net/$id ]] && orphan "net dir of gone VM $id"
	done
	n=$(sql "SELECT count(*) FROM vm_net WHERE vm_id NOT IN (SELECT id FROM vm WHERE host_id IS NOT NULL)")
	((n == 0)) || orphan "$n address row(s) of VMs no longer placed"
	n=$(sql "SELECT count(*) FROM host h WHERE h.ipv4_used <> (SELECT count(*) FROM vm WHERE vm.host_id = h.id)")
	((n == 0)) || orphan "$n host(s) whose ipv4_used differs from its VMs"
}
orphans=0
orphan() { orphans=$((orphans + 1)) && bad "orphan: $*"; }
check_orphans() { # at the end, after convergence
	local live id
	live=" $(sql "SELECT id FROM vm WHERE host_id IS NOT NULL AND state NOT IN ('destroying')" | tr '\n' ' ') "
	local running
	running=" $(sql "SELECT id FROM vm WHERE state = 'running'" | tr '\n' ' ') "
	for d in "$state"/host/vms/*/; do
		[[ -d $d ]] || continue
		id=$(basename "$d")
		[[ $live == *" $id "* ]] || orphan "VM directory $d"
	done
	for id in $(pgrep -a -f "$state/host/vms/" | grep -o "$state/host/vms/[a-z0-9]*" | sort -u | sed 's|.*/||'); do
		[[ $running == *" $id "* ]] || orphan "VMM process of $id (VM not running)"
	done
	local n
	for id in "${!seen_ids[@]}"; do
		[[ $live == *" $id "* ]] && continue
		grep -q "^$(vm_user "$id"):" /etc/passwd && orphan "user $(vm_user "$id") of gone VM $id"
	done
	check_net_orphans "$live"
	n=$(find "$state/host" -name '*.tmp.*' 2>/dev/null | wc -l)
	((n == 0)) || orphan "$n temp file(s): $(find "$state/host" -name '*.tmp.*' | head -3 | tr '\n' ' ')"
	((orphans == 0)) && ok
}

# The live processes of VM $2 whose program is $1 (qemu-system-*, or
# qemu-storage-daemon): they run as the VM's own user (the jail hands
# them their files as fds, so their command lines do not name its dir).
vm_procs() {
	local uid
	uid=$(awk -F: -v p="loam-vm-${2:0:16}" 'index($1, p) == 1 {print $3}' /etc/passwd)
	if [[ -z $uid ]]; then
		echo 0
		return
	fi
	ps -o stat=,args= -u "$uid" | awk -v want="$1" '$1 !~ /^Z/ { n = split($2, p, "/"); if (p[n] ~ want) print }' | wc -l
}
vmm_counts=0
check_processes() { # at the end: exactly one VMM, and one storage daemon once VMs have them
	local id vmms daemons any_daemon
	any_daemon=$(pgrep -c -f "qemu-storage-daemon.*$state/host/vms/")
	for id in $(sql "SELECT id FROM vm WHERE state = 'running'"); do
		vmms=$(vm_procs '^qemu-system-' "$id")
		if ((vmms != 1)); then
			vmm_counts=$((vmm_counts + 1))
			bad "running VM $id has $vmms VMM processes, not 1"
		else ok; fi
		((any_daemon > 0)) || continue
		daemons=$(vm_procs '^qemu-storage-daemon$' "$id")
		if ((daemons != 1)); then
			vmm_counts=$((vmm_counts + 1))
			bad "running VM $id has $daemons storage daemons, not 1"
		else ok; fi
	done
}

unexplained=0
check_failed() { # at the end: a VM failed that the harness did not make fail
	local id name reason
	while IFS='|' read -r id name reason; do
		[[ -z $id || -n ${caused[$name]:-} ]] && continue
		unexplained=$((unexplained + 1))
		bad "VM $name ($id) ended failed, and the harness did not cause it: $reason"
	done < <(sql "SELECT id, name, replace(coalesce(state_reason, ''), char(10), ' ') FROM vm WHERE state = 'failed'")
	((unexplained == 0)) && ok
}

# ---- the workload ----
vm_state() { sql "SELECT state FROM vm WHERE name = '$1'"; }
next_vm=0
act() { # logs a workload step and its outcome
	local rc
	loam "$@" >/dev/null 2>&1
	rc=$?
	echo "step: $* -> $rc" >>"$state/steps.log"
	return $rc
}
live_names() { for n in "${!created[@]}"; do [[ -z ${destroyed[$n]:-} ]] && echo "$n"; done; }
step() { # one workload step, picked from what exists
	local running stopped live name
	running=$(sql "SELECT name FROM vm WHERE state = 'running' ORDER BY random() LIMIT 1")
	stopped=$(sql "SELECT name FROM vm WHERE state = 'stopped' ORDER BY random() LIMIT 1")
	live=$(live_names | wc -l)
	case $((RANDOM % 4)) in
	0) ;;
	1) [[ -n $running ]] && act vm stop "$running" && return ;;
	2) [[ -n $stopped ]] && act vm start "$stopped" && return ;;
	3)
		if ((live >= 2)); then
			name=$(live_names | sort | sed -n "$((RANDOM % live + 1))p")
			# A request cut by a kill may still have been recorded: the VM
			# counts as destroyed either way, and is asked again at the end.
			destroyed[$name]=1
			act vm rm "$name"
			return
		fi
		;;
	esac
	if ((live < 2)); then
		name=c$next_vm
		next_vm=$((next_vm + 1))
		act vm create "$name" --arch x64 --size standard-2 --image loam-tiny --boot kernel && created[$name]=1
	elif [[ -n $stopped ]]; then
		act vm start "$stopped"
	elif [[ -n $running ]]; then
		act vm stop "$running"
	fi
}

# Fault points and the range of the pass that fires (the busier the point,
# the wider the range, so that kills land at varied moments).
faults=(db-before-commit:60 host-command-done:4 engine-label-done:15)
kinds_fault=0 kinds_random=0 kinds_install=0 kinds_recovery=0
survived=0
start_loamd || exit 1
loam host add --local --no-wait >/dev/null || bad "host add --local"
loam host set local --allow-tcg --cpu-overcommit 8 >/dev/null || bad "host set"

for ((k = 1; k <= kills; k++)); do
	# Mid-install kills while cloudify is still installing artifacts.
	if ((k <= 3)) && ! host_accepting; then
		for ((i = 0; i < 100; i++)); do
			install_running && break
			host_accepting && break
			sleep 0.1
		done
		sleep "0.$((RANDOM % 5 + 1))"
		if install_running; then
			kill_loamd
			kinds_install=$((kinds_install + 1))
		else
			kill_loamd
			kinds_random=$((kinds_random + 1))
		fi
		fault=
	else
		step
		if ((k % 2)); then
			sleep "$((RANDOM % 4)).$((RANDOM % 9 + 1))"
			kill_loamd
			kinds_random=$((kinds_random + 1))
		elif wait_dead 10; then
			{ wait "$loamd_pid"; } 2>/dev/null
			loamd_pid=
			kinds_fault=$((kinds_fault + 1))
		else # the armed point was not reached in time: a plain kill
			kill_loamd
			kinds_random=$((kinds_random + 1))
		fi
	fi
	survived=$((survived + 1))
	# Arm a fault point for the next boot on even kills (fires on its own).
	fault=
	if (((k + 1) % 2 == 0)); then
		fault=${faults[$((RANDOM % ${#faults[@]}))]}
		fault=${fault%:*}:$((RANDOM % ${fault#*:} + 1))
	fi
	while true; do
		start_loamd "$fault"
		rc=$?
		((rc == 0)) && break
		((rc == 1)) && exit 1
		# The fault fired during recovery (before the API answered): counted.
		kinds_recovery=$((kinds_recovery + 1))
		survived=$((survived + 1))
		k=$((k + 1))
		fault=
	done
	check_db
done

# ---- one kill mid-destroy: after the host purged the VM, before the
# database released and deleted it (fault point vm-destroy-purged) ----
middestroy=0
kill_mid_destroy() {
	local name i
	kill_loamd
	start_loamd || return 1
	act vm create md --arch x64 --size standard-2 --image loam-tiny --boot kernel && created[md]=1
	for ((i = 0; i < 300; i++)); do
		[[ $(vm_state md) == running ]] && break
		sleep 1
	done
	name=$(sql "SELECT name FROM vm WHERE state = 'running' ORDER BY name LIMIT 1")
	[[ -n $name ]] || { bad "no running VM to destroy mid-way"; return 0; }
	kill_loamd
	start_loamd vm-destroy-purged:1 || return 1
	destroyed[$name]=1
	act vm rm "$name"
	if wait_dead 120; then
		{ wait "$loamd_pid"; } 2>/dev/null
		loamd_pid=
		middestroy=1
		survived=$((survived + 1))
		ok
	else
		bad "destroying $name did not reach the fault point vm-destroy-purged"
	fi
}
kill_mid_destroy || exit 1

# ---- convergence: no more kills; stopped VMs are started again ----
kill_loamd
start_loamd || exit 1
for name in $(sql "SELECT name FROM vm WHERE state = 'stopped'"); do loam vm start "$name" >/dev/null 2>&1; done
settled() {
	local n
	n=$(sql "SELECT count(*) FROM vm WHERE NOT (state = 'running' OR (state = 'failed' AND coalesce(state_reason, '') <> ''))")
	((n == 0)) || return 1
	for name in "${!destroyed[@]}"; do [[ -n $(vm_state "$name") ]] && return 1; done
	return 0
}
for ((i = 0; i < converge_s; i++)); do
	settled && break
	# Stopped VMs are started; destroys whose request a kill cut are asked again.
	if ((i % 10 == 9)); then
		for name in $(sql "SELECT name FROM vm WHERE state = 'stopped'"); do loam vm start "$name" >/dev/null 2>&1; done
		for name in "${!destroyed[@]}"; do [[ -n $(vm_state "$name") ]] && loam vm rm "$name" >/dev/null 2>&1; done
	fi
	sleep 1
done
if settled; then ok; else
	bad "not converged after ${converge_s}s"
	sql "SELECT name, state, state_reason FROM vm" >&2
fi
check_db
check_failed
check_processes
check_orphans
# The sanitizers report into loamd.log; a SIGKILL cannot hide an earlier one.
sanitizer=$(grep -cE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$state/loamd.log")
if ((sanitizer == 0)); then ok; else
	bad "$sanitizer sanitizer report(s) in loamd.log"
	grep -E -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$state/loamd.log" | head -40 >&2
fi
vms=$(sql "SELECT count(*) FROM vm")
running=$(sql "SELECT count(*) FROM vm WHERE state = 'running'")
failed=$(sql "SELECT count(*) FROM vm WHERE state = 'failed'")
sql "SELECT name, state, state_reason FROM vm WHERE state = 'failed'" | sed 's/^/failed VM: /'
kill_loamd
if ((fails)); then
	echo "--- loamd log (tail)"
	tail -n 60 "$state/loamd.log"
fi
echo "crash harness: kills survived $survived (fault points $kinds_fault, during recovery $kinds_recovery, mid-install $kinds_install, mid-destroy $middestroy, random delay $kinds_random); VMs checked $((vms + ${#destroyed[@]})) ($running running, $failed failed, ${#destroyed[@]} destroyed); lost $lost, re-created $recreated, stranded $stranded, over-commits $overcommits, unexplained failures $unexplained, VMM counts off $vmm_counts, orphans $orphans"
finish
