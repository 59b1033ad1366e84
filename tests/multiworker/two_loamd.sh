#!/usr/bin/env bash
# Two loamd workers on one PostgreSQL (issue 4's acceptance, issue 7 item 2):
# a throwaway PostgreSQL cluster (tests/pg.sh), the real x64 SSH test host
# with one sshd on 10 ports (one host entry per port), and two sanitizer
# loamd processes sharing the database and the API token, each with
# --workers 2. The test shows that
#   - the 10 hosts are cloudified with every (strand, label) transition
#     logged exactly once across both processes (no step ran twice);
#   - VMs created through both APIs are placed at most once each and every
#     host's used counters equal the sum over its VMs (alloc/check.c's SQL);
#   - after SIGKILL of one loamd while it holds strand leases, the other
#     runs those strands once the leases expire and finishes the VM work.
# The VMs need no guest: the hosts have no artifacts, so prep fails and the
# VMs end `failed`; what is checked is placement and the strands.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
src=${LOAM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${LOAM_BIN_DIR:-$src/build/check/bin}
dist=${LOAM_DIST_DIR:-$src/build/dist}
nhosts=10 nvms=6

# shellcheck disable=SC1091
source "$src/tests/pg.sh"
loam_pg_start || exit 1
work=$(mktemp -d /tmp/loam-2loamd.XXXXXX)
# `vm create` gives the VMs this key (~/.ssh/id_ed25519.pub under HOME)
use_test_key "$work" || exit 1
chmod 0755 "$work"
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null && kill -CONT "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	bash "$src/tests/hosts/stop-ssh-hosts.sh" "$work/hosts"
	loam_pg_stop
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sql() { psql "$LOAM_TEST_PG_URL" -X -A -t -q -c "$1"; }
loam_at() { # a|b ARGS...: the CLI against loamd A or B
	local which=$1
	shift
	LOAM_URL=${url[$which]} LOAM_STATE_DIR=$work/$which timeout 60 "$bin/loam" "$@"
}
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
declare -A url pid owner
start_loamd() { # a|b
	local port
	port=$(free_port)
	url[$1]=http://127.0.0.1:$port
	"$bin/loamd" --state-dir "$work/$1" --db "$LOAM_TEST_PG_URL" --listen "127.0.0.1:$port" \
		--dist-dir "$dist" --artifact-store "$work/no-store" --workers 2 --heartbeat-s 1 \
		--host-state-root "$work/hs" --ssh-key-root "$(dirname "$SSH_KEY")" \
		>"$work/$1.log" 2>&1 &
	pid[$1]=$!
	pids+=("$!")
	owner[$1]="$(hostname):$!"
	until_true 60 "loamd $1" loam_at "$1" sizes >/dev/null 2>&1
}

LOAM_HOSTS_PORTS=$nhosts bash "$src/tests/hosts/start-ssh-hosts.sh" "$work/hosts" x64 || {
	bad "the SSH test host did not start"
	exit 1
}
# shellcheck disable=SC1091
source "$work/hosts/hosts.env"
read -r -a ports <<<"$X64_PORTS"
expect "sshd listens on $nhosts ports" "$nhosts" "${#ports[@]}"

mkdir -p "$work/a" "$work/b" "$work/no-store"
start_loamd a || exit 1
install -m 0600 "$work/a/token" "$work/b/token"
start_loamd b || exit 1

# ---- 10 hosts, added alternately through both APIs ----
for ((i = 0; i < nhosts; i++)); do
	via=$([[ $((i % 2)) == 0 ]] && echo a || echo b)
	loam_at "$via" host add "$X64_ADDRESS" --ssh-port "${ports[$i]}" --ssh-user "$X64_USER" \
		--ssh-key "$SSH_KEY" --name "h$i" --state-dir "$work/hs/h$i" --no-wait >/dev/null ||
		bad "host add h$i via $via"
	loam_at "$via" host set "h$i" --allow-tcg --cpu-overcommit 4 >/dev/null || bad "host set h$i"
done
all_accepting() { [[ $(sql "SELECT count(*) FROM host WHERE allocation_state = 'accepting'") == "$nhosts" ]]; }
until_true 400 "$nhosts hosts accepting" all_accepting || exit 1

# ---- every cloudify step ran exactly once across both processes ----
# Engine log line (src/engine/dispatch.c): "strand ID: prog.label" per label change.
transitions() { grep -ho 'strand [0-9a-z]*: [a-z_]*\.[a-z_]*' "$work/a.log" "$work/b.log" | sort; }
mapfile -t host_ids < <(sql "SELECT id FROM host ORDER BY id")
steps=(cloudify.connect cloudify.detect_arch cloudify.upload_agent cloudify.learn
	cloudify.install_artifacts cloudify.accept cloudify.wait)
expect "no transition logged twice" "" "$(transitions | uniq -d)"
missing=0
for id in "${host_ids[@]}"; do
	for s in "${steps[@]}"; do
		[[ $(transitions | grep -c "^strand $id: $s\$") == 1 ]] || missing=$((missing + 1))
	done
done
expect "each of $nhosts strands logged each of ${#steps[@]} steps exactly once" 0 "$missing"
na=$(grep -c 'strand [0-9a-z]*: cloudify\.' "$work/a.log")
nb=$(grep -c 'strand [0-9a-z]*: cloudify\.' "$work/b.log")
echo "cloudify transitions applied: loamd A $na, loamd B $nb"
((na == 0 || nb == 0)) && echo "note: all cloudify work ran on one loamd"
expect "no lease was lost" 0 "$(cat "$work/a.log" "$work/b.log" | grep -c 'lease lost')"

# ---- a VM workload through both APIs; then SIGKILL A while it holds leases ----
for ((i = 0; i < nvms; i++)); do
	via=$([[ $((i % 2)) == 0 ]] && echo a || echo b)
	loam_at "$via" vm create "v$i" --arch x64 --size standard-2 --image loam-tiny --boot kernel >/dev/null ||
		bad "vm create v$i via $via"
done
a_leases="FROM strand WHERE lease_owner LIKE '${owner[a]}/%'
	 AND lease_expires_at > (extract(epoch from now()) * 1000)::bigint"
# Freeze A (SIGSTOP) and look at its leases: a frozen process cannot apply
# or renew, so what it holds then is what it holds when SIGKILL lands.
# Prefer a moment when A holds a VM strand; after that, any lease will do.
a_count() { sql "SELECT count(*) $a_leases $1"; }
for ((i = 0; i < 400; i++)); do
	kill -STOP "${pid[a]}"
	want=$([[ $i -lt 200 ]] && echo "AND prog = 'vm'")
	[[ $(a_count "$want") -gt 0 ]] && break
	kill -CONT "${pid[a]}"
	sleep 0.05
done
held=$(sql "SELECT id || ' ' || lease_expires_at $a_leases")
held_what=$(sql "SELECT string_agg(prog || '.' || label, ' ') $a_leases")
kill -KILL "${pid[a]}"
wait "${pid[a]}" 2>/dev/null
[[ -n $held ]] || {
	bad "loamd A held no lease in 400 looks"
	exit 1
}
echo "killed loamd A holding $(wc -l <<<"$held") lease(s): $held_what"
taken_over() { # every strand A held has been applied since its lease expired, not by A
	local id exp
	while read -r id exp; do
		[[ $(sql "SELECT count(*) FROM strand WHERE id = '$id' AND (done = 1 OR schedule > $exp)
			 AND (lease_owner IS NULL OR lease_owner NOT LIKE '${owner[a]}/%')") == 1 ]] || return 1
	done <<<"$held"
}
until_true 180 "loamd B taking over A's strands" taken_over
vms_settled() { [[ $(sql "SELECT count(*) FROM vm WHERE state = 'failed'") == "$nvms" ]]; }
until_true 240 "all $nvms VMs finished (failed at prep: the hosts have no artifacts)" vms_settled
expect "no strand still leased by the dead loamd" 0 \
	"$(sql "SELECT count(*) FROM strand WHERE lease_owner LIKE '${owner[a]}/%' AND lease_expires_at > (extract(epoch from now()) * 1000)::bigint")"

# ---- nothing allocated twice ----
placed_twice=$(grep -ho 'vm v[0-9]* ([0-9a-z]*) placed' "$work/a.log" "$work/b.log" | sort | uniq -d)
expect "no VM placed twice" "" "$placed_twice"
echo "VM placements logged: loamd A $(grep -c ') placed on' "$work/a.log"), loamd B $(grep -c ') placed on' "$work/b.log")"
expect "every VM row names at most one host (all placed)" "$nvms" \
	"$(sql "SELECT count(*) FROM vm WHERE host_id IS NOT NULL")"
expect "used counters equal the sum over VMs, within limits (alloc/check.c)" 0 "$(sql "
	SELECT count(*) FROM host h LEFT JOIN (
	 SELECT host_id, sum(cores) AS c, sum(memory_gib) AS m,
	  sum(CASE WHEN hugepages <> 0 THEN memory_gib ELSE 0 END) AS hp
	 FROM vm WHERE host_id IS NOT NULL GROUP BY host_id) u ON u.host_id = h.id
	WHERE h.used_cores > h.total_cores * h.cpu_overcommit
	 OR (h.total_hugepages_1g > 0 AND h.used_hugepages_1g > h.total_hugepages_1g)
	 OR (h.total_hugepages_1g = 0 AND h.used_memory_gib > h.total_mem_gib)
	 OR h.available_storage_gib < 0
	 OR h.used_cores <> coalesce(u.c, 0) OR h.used_memory_gib <> coalesce(u.m, 0)
	 OR h.used_hugepages_1g <> coalesce(u.hp, 0)")"
expect "no outcome dropped for a lost lease, whole run" 0 \
	"$(cat "$work/a.log" "$work/b.log" | grep -c 'lease lost')"
expect "B still serves the API" 0 "$(loam_at b host ls >/dev/null 2>&1; echo $?)"

if ((fails)); then
	for w in a b; do
		echo "--- loamd $w log (tail)"
		tail -n 30 "$work/$w.log"
	done
fi
finish
