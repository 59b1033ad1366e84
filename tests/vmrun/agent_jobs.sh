#!/usr/bin/env bash
# The agent's detached jobs and its watch long poll (docs/agent-vm-verbs.md),
# with the real loam-host in a temp state dir:
#   - a job that ends quickly answers in the same job-start call, and
#     --reap forgets it; its files live in DIR/jobs/NAME, root-only (0700),
#     never under a VM's folder;
#   - a long job (an install from a local HTTP server that never answers)
#     outlives the call that started it; asking again with the same input
#     starts nothing new, other input is refused while it runs;
#   - watch times out on a running job, reports it once job-cancel killed
#     it (no process of it left), and reports a VM that has no QEMU;
#   - bad names, verbs a job may not run and bad options change nothing.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bin=${LOAM_BIN_DIR:?}
agent=$bin/loam-host
[[ -x $agent ]] || { bad "no agent at $agent"; finish; }

dir=$(mktemp -d /tmp/loam-agent-jobs.XXXXXX)
server=
cleanup() {
	[[ -n $server ]] && kill "$server" 2>/dev/null
	"$agent" job-cancel install --state-dir "$dir" >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT
field() { jq -r "$1" <<<"$2"; }

# ---- a quick job answers at once ----
req='{"prefix": "'$dir'/artifacts", "entries": []}'
out=$("$agent" job-start install --state-dir "$dir" --wait-ms 1000 -- install <<<"$req")
expect "quick job ends within the call" "done" "$(field .state "$out")"
expect "quick job's exit status" 0 "$(field .exit_status "$out")"
contains "quick job's stdout is the verb's" '"results":[]' "$(field .stdout "$out")"
expect "jobs dir is root-only" 700 "$(stat -c %a "$dir/jobs")"
expect "jobs dir is root's" 0 "$(stat -c %u "$dir/jobs")"
expect "no VM folder for a job" 0 "$(find "$dir" -path '*/vms/*' | wc -l)"
out=$("$agent" job-status install --state-dir "$dir" --reap)
expect "reap says so" true "$(field .reaped "$out")"
expect "a reaped job is gone" absent "$(field .state "$("$agent" job-status install --state-dir "$dir")")"

# ---- a long job outlives its call ----
port=$(free_port)
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
' "$port" &
server=$!
for ((i = 0; i < 100; i++)); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done
sha=0000000000000000000000000000000000000000000000000000000000000000
long='{"prefix": "'$dir'/artifacts", "entries": [{"component": "image", "name": "x",
  "version": "1", "arch": "x64", "kind": "file", "url": "http://127.0.0.1:'$port'/x.img",
  "sha256": "'$sha'", "size": 1}]}'
start=$(date +%s%N)
out=$("$agent" job-start install --state-dir "$dir" --wait-ms 100 -- install <<<"$long")
took=$((($(date +%s%N) - start) / 1000000))
expect "long job runs after its call" running "$(field .state "$out")"
if ((took < 5000)); then ok; else bad "job-start held the call for ${took} ms"; fi
pid1=$(cut -d' ' -f1 "$dir/jobs/install/pid")
out=$("$agent" job-start install --state-dir "$dir" -- install <<<"$long")
expect "same input: the same job" running "$(field .state "$out")"
expect "same input: no second monitor" "$pid1" "$(cut -d' ' -f1 "$dir/jobs/install/pid")"
"$agent" job-start install --state-dir "$dir" -- install <<<"$req" >/dev/null 2>"$dir/err"
rc=$?
if ((rc != 0)); then ok; else bad "other input while running was accepted"; fi
contains "other input is refused" "runs with other input" "$(cat "$dir/err")"

# ---- watch and cancel ----
out=$("$agent" watch --state-dir "$dir" --job install --timeout-ms 300)
expect "watch times out on a running job" true "$(field .timed_out "$out")"
sid=$(cut -d' ' -f2 "$dir/jobs/install/pid")
out=$("$agent" job-cancel install --state-dir "$dir")
expect "cancel found the job" true "$(field .existed "$out")"
# (a zombie may stay where PID 1 does not reap orphans: it runs nothing)
expect "nothing of the job runs" 0 "$(ps -o stat= -s "$sid" | grep -cv '^Z')"
out=$("$agent" watch --state-dir "$dir" --job install --timeout-ms 2000)
expect "watch reports the cancelled job" absent "$(field '.events[0].state' "$out")"
out=$("$agent" watch --state-dir "$dir" --vm abc123 --timeout-ms 2000)
expect "watch reports a VM without QEMU" false "$(field '.events[0].status.running' "$out")"
expect "... by its id" abc123 "$(field '.events[0].vm' "$out")"

# ---- refused before anything happens ----
for args in "../x --state-dir $dir -- install" "Bad --state-dir $dir -- install" \
	"ok --state-dir $dir -- learn" "ok --state-dir $dir -- sh -c id" \
	"ok --state-dir relative -- install" "ok --state-dir $dir --wait-ms 99999 -- install"; do
	# shellcheck disable=SC2086
	"$agent" job-start $args </dev/null >/dev/null 2>&1
	expect "job-start $args exits 2" 2 $?
done
expect "no job was made" 0 "$(find "$dir/jobs" -mindepth 1 | wc -l)"
"$agent" watch --state-dir "$dir" --vm 'a;b' >/dev/null 2>&1
expect "watch refuses a bad VM id" 2 $?
finish
