#!/usr/bin/env bash
# The arm64-debian SSH test host (tests/hosts/debian-arm64.sh), checked with
# OpenSSH's own client: it starts (building its root into the artifact cache
# the first time), presents the host key hosts.env names, its sshd is the
# root's own arm64 binary under qemu-user, `uname -m` says aarch64, every
# ELF file in it is arm64, and the tools a loam host needs run there (ip,
# dnsmasq, qemu-img, mkfs.vfat, mcopy, curl, useradd). Stop leaves nothing.
# What qemu-user cannot do there (nft: netfilter netlink) is skipped as a
# part with the reason, not hidden.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
src=${LOAM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
h=$src/tests/hosts
for tool in ssh mmdebstrap python3 jq; do
	command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (scripts/deps.sh test)" >&2; exit 1; }
done

a=$(mktemp -d /tmp/loam-test-debian-arm64.XXXXXX)
cleanup() {
	bash "$h/stop-ssh-hosts.sh" "$a"
	rm -rf "$a"
}
trap cleanup EXIT

start=${EPOCHREALTIME/./}
bash "$h/start-ssh-hosts.sh" "$a" arm64-debian || { echo "FAIL: start" >&2; exit 1; }
ds=$(((${EPOCHREALTIME/./} - start) / 100000))
echo "arm64-debian host started in $((ds / 10)).$((ds % 10)) s"
source "$a/hosts.env"
for v in ARM64_DEBIAN_PORT ARM64_DEBIAN_HOST_KEY ARM64_DEBIAN_PID ARM64_DEBIAN_ROOT; do
	[[ -n ${!v:-} ]] && ok || bad "hosts.env lacks $v"
done

echo "[127.0.0.1]:$ARM64_DEBIAN_PORT $ARM64_DEBIAN_HOST_KEY" >"$a/known_hosts"
sshd() {
	ssh -q -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$a/known_hosts" \
		-i "$SSH_KEY" -p "$ARM64_DEBIAN_PORT" root@127.0.0.1 "$@"
}
expect "uname -m" aarch64 "$(sshd uname -m)"
contains "os-release" 'VERSION_CODENAME=bookworm' "$(sshd cat /etc/os-release)"
expect "dpkg architecture" arm64 "$(sshd dpkg --print-architecture)"

# The listener is the root's own sshd: an arm64 ELF run by qemu-user,
# inside the host's root.
contains "sshd's program" /usr/sbin/sshd "$(tr '\0' ' ' <"/proc/$ARM64_DEBIAN_PID/cmdline")"
expect "sshd's root" "$ARM64_DEBIAN_ROOT" "$(readlink "/proc/$ARM64_DEBIAN_PID/root")"

# Every ELF file of the root is arm64 (e_machine 183), none is x86.
elf=$(python3 - "$ARM64_DEBIAN_ROOT" <<-'EOF'
	import os, struct, sys
	root, counts = sys.argv[1], {}
	for d, _, files in os.walk(root):
	    for f in files:
	        p = os.path.join(d, f)
	        if os.path.islink(p) or not os.path.isfile(p):
	            continue
	        try:
	            with open(p, "rb") as fh:
	                head = fh.read(20)
	        except OSError:
	            continue
	        if head[:4] == b"\x7fELF" and len(head) == 20:
	            m = struct.unpack("<H", head[18:20])[0]
	            counts[m] = counts.get(m, 0) + 1
	print(" ".join(f"{m}:{n}" for m, n in sorted(counts.items())))
	EOF
)
[[ $elf =~ ^183:[0-9]+$ ]] && ok || bad "ELF machines in the root (want only 183, aarch64): $elf"
echo "arm64-debian root: ELF files by e_machine: $elf"

# One session for them all: each new session costs seconds under qemu-user.
out=$(sshd 'set -e; ip -V; ip -o link show lo; dnsmasq --version; qemu-img --version
	mkfs.vfat --help; mcopy -V; curl --version; ss -V; useradd -h; test -x /usr/sbin/nft
	dpkg-query -W -f "\${Status}\n" nftables' 2>&1) && ok || bad "a loam host's tools: $out"
contains "nftables installed" "install ok installed" "$out"
# nft needs netfilter netlink, which qemu-user does not translate: this
# part is skipped with the reason when that is why it fails, never hidden.
if out=$(sshd nft list ruleset 2>&1); then
	ok
elif [[ $out == *"Protocol not supported"* ]]; then
	echo "SKIP (part): nft on the arm64-debian host: qemu-user refuses netfilter netlink: $out"
else
	bad "nft list ruleset: $out"
fi

# scp (sftp subsystem) into the host, as loam uploads its agent.
echo hello >"$a/f"
scp -q -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$a/known_hosts" \
	-i "$SSH_KEY" -P "$ARM64_DEBIAN_PORT" "$a/f" root@127.0.0.1:/tmp/f && ok || bad "scp"
expect "file copied" hello "$(sshd cat /tmp/f)"

base=$(dirname "$ARM64_DEBIAN_ROOT")
bash "$h/stop-ssh-hosts.sh" "$a"
# Alive and not a zombie (this machine's init reaps orphans lazily).
alive() { [[ -d /proc/$1 && $(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) != Z ]]; }
alive "$ARM64_DEBIAN_PID" && bad "sshd still runs after stop" || ok
grep -qF "$base" /proc/mounts && bad "mounts left under $base" || ok
[[ -e $base ]] && bad "$base left behind" || ok
finish
