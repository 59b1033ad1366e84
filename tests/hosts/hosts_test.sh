#!/usr/bin/env bash
# The SSH test hosts themselves, checked with OpenSSH's own client: both
# start, present the host keys hosts.env names, the arm64 host runs arm64
# binaries in its chroot (uname, the uploaded agent), a restart keeps the
# port, two sets run side by side, and stop leaves nothing behind.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
src=${LOAM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
h=$src/tests/hosts

a=$(mktemp -d /tmp/loam-test-hosts-a.XXXXXX)
b=$(mktemp -d /tmp/loam-test-hosts-b.XXXXXX)
cleanup() {
	bash "$h/stop-ssh-hosts.sh" "$a"
	bash "$h/stop-ssh-hosts.sh" "$b"
	rm -rf "$a" "$b"
}
trap cleanup EXIT

bash "$h/start-ssh-hosts.sh" "$a" || { echo "FAIL: start" >&2; exit 1; }
source "$a/hosts.env"
for v in SSH_KEY X64_PORT X64_USER X64_HOST_KEY X64_PID ARM64_PORT ARM64_USER ARM64_HOST_KEY \
	ARM64_PID ARM64_ROOT; do
	[[ -n ${!v:-} ]] && ok || bad "hosts.env lacks $v"
done

# Strict host key checking against the keys hosts.env announces.
{
	echo "[127.0.0.1]:$X64_PORT $X64_HOST_KEY"
	echo "[127.0.0.1]:$ARM64_PORT $ARM64_HOST_KEY"
} >"$a/known_hosts"
sshx() { # port, command words...
	local port=$1
	shift
	ssh -q -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$a/known_hosts" \
		-i "$SSH_KEY" -p "$port" root@127.0.0.1 "$@"
}
expect "x64 uname -m" x86_64 "$(sshx "$X64_PORT" uname -m)"
expect "arm64 uname -m" aarch64 "$(sshx "$ARM64_PORT" uname -m)"
expect "arm64 sees its chroot" "$(ls "$ARM64_ROOT/var/lib")" "$(sshx "$ARM64_PORT" ls /var/lib)"
sshx "$ARM64_PORT" test -r /proc/cpuinfo && ok || bad "arm64: /proc/cpuinfo"
sshx "$ARM64_PORT" test -d /sys/devices/system/cpu && ok || bad "arm64: /sys"
sshx "$ARM64_PORT" test -c /dev/null && ok || bad "arm64: /dev/null"
sshx "$ARM64_PORT" touch /tmp/w && ok || bad "arm64: /tmp not writable"
sshx "$ARM64_PORT" touch /sys/loam-w 2>/dev/null && bad "arm64: /sys is writable" || ok
for cmd in sh uname sha256sum cat mkdir mv chmod rm wget; do
	sshx "$ARM64_PORT" which "$cmd" >/dev/null && ok || bad "arm64: no $cmd"
done

agent=$src/build/dist/loam-host-arm64
if [[ -x $agent ]]; then
	scp -q -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$a/known_hosts" \
		-i "$SSH_KEY" -P "$ARM64_PORT" "$agent" root@127.0.0.1:/tmp/loam-host && ok ||
		bad "scp (sftp) to the arm64 chroot"
	expect "arm64 agent arch" arm64 "$(sshx "$ARM64_PORT" /tmp/loam-host arch)"
else
	bad "$agent missing: run make first"
fi

# A restart keeps the port and the keys; a new listener answers.
old=$X64_PID
bash "$h/ssh-hosts.sh" restart "$a" x64 || bad "restart"
source "$a/hosts.env"
[[ $X64_PID != "$old" ]] && ok || bad "restart kept pid $old"
expect "x64 after restart" x86_64 "$(sshx "$X64_PORT" uname -m)"

# A second set alongside the first, its sshd on three ports.
LOAM_HOSTS_PORTS=3 bash "$h/start-ssh-hosts.sh" "$b" x64 || bad "second start"
b_ports=$(source "$b/hosts.env" && echo "$X64_PORTS")
b_port=${b_ports%% *}
[[ -n $b_port && $b_port != "$X64_PORT" && $b_port != "$ARM64_PORT" ]] && ok || bad "second set port $b_port"
read -ra pa <<<"$b_ports"
expect "three ports" 3 "${#pa[@]}"
for p in "${pa[@]}"; do
	expect "second set on port $p" x86_64 "$(source "$b/hosts.env" && ssh -q -o BatchMode=yes \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -i "$SSH_KEY" -p "$p" \
		root@127.0.0.1 uname -m)"
done

# Stop leaves nothing.
root=$ARM64_ROOT pids="$X64_PID $ARM64_PID"
bash "$h/stop-ssh-hosts.sh" "$a"
for p in $pids; do
	st=$(cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null)
	[[ -z $st || $st == Z ]] && ok || bad "sshd $p still running"
done
grep -q " $root/" /proc/mounts && bad "mounts left under $root" || ok
[[ ! -e $root ]] && ok || bad "$root left behind"
[[ ! -e $a/hosts.env ]] && ok || bad "hosts.env left behind"
expect "second set still up" x86_64 "$(source "$b/hosts.env" && ssh -q -o BatchMode=yes \
	-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -i "$SSH_KEY" -p "$X64_PORT" \
	root@127.0.0.1 uname -m)"

finish
