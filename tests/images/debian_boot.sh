#!/usr/bin/env bash
# Boot check of the debian-12 image, without loam's C code: for each arch,
# one after the other, a thin 20 GiB qcow2 overlay of the store's image and
# a NoCloud seed (hostname, user loam with passwordless sudo and a key made
# here, password login off, DHCP by network-config v2), booted under TCG
# through the store's OVMF / AAVMF. It waits for the guest contract's
# "LOAM-READY machine=..." line, takes the host keys cloud-init printed on
# the console, and logs in with OpenSSH through QEMU's user network
# (restrict=on: only the 127.0.0.1 port forward) pinning those keys. Then:
# uname -m, hostname, df / within 5 % of 20 GiB, sudo -n true, cloud-init
# status done, and the host key served equals the console's.
# Prints the time to LOAM-READY per arch.
#
#   tests/images/debian_boot.sh [ARCH...]      (default: x64 arm64)
# LOAM_ARTIFACT_STORE overrides the store, LOAM_BOOT_TIMEOUT (s) the wait.
set -euo pipefail
root=${LOAM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=tests/lib.sh
. "$root/tests/lib.sh"
store=${LOAM_ARTIFACT_STORE:-$root/build/artifacts/store}
timeout_s=${LOAM_BOOT_TIMEOUT:-1200}
disk_gib=20
arches=("$@")
[[ ${#arches[@]} -gt 0 ]] || arches=(x64 arm64)

require_store "$store"
for tool in qemu-system-x86_64 qemu-system-aarch64 qemu-img ssh ssh-keygen mkfs.vfat mcopy jq \
	python3 sha256sum; do
	command -v "$tool" >/dev/null || {
		echo "FAIL: $tool is missing (scripts/deps.sh test installs it)" >&2
		exit 1
	}
done

tmp=$(mktemp -d /tmp/loam-debian-boot.XXXXXX)
qemu_pid=
cleanup() {
	if [[ -n $qemu_pid ]]; then
		kill "$qemu_pid" 2>/dev/null || true
		wait "$qemu_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

entry_path() { # component name arch -> verified path of the newest such entry
	local e p
	e=$(jq -c --arg c "$1" --arg n "$2" --arg a "$3" \
		'[.entries[] | select(.component==$c and .name==$n and .arch==$a)] | last' "$store/manifest.json")
	[[ $e != null ]] || { echo "no $1 $2 for $3 in $store/manifest.json (run make artifacts)" >&2; return 1; }
	p=$store/$(jq -r .path <<<"$e")
	[[ $(sha256sum "$p" | cut -c1-64) == $(jq -r .sha256 <<<"$e") ]] ||
		{ echo "$p does not match its manifest digest" >&2; return 1; }
	echo "$p"
}

make_seed() { # dir hostname pubkey
	printf 'instance-id: loam-test-%s\nlocal-hostname: %s\n' "$2" "$2" >"$1/meta-data"
	cat >"$1/user-data" <<-EOF
		#cloud-config
		users:
		  - name: loam
		    shell: /bin/bash
		    sudo: "ALL=(ALL) NOPASSWD:ALL"
		    lock_passwd: true
		    ssh_authorized_keys:
		      - $(cat "$3")
		ssh_pwauth: false
	EOF
	cat >"$1/network-config" <<-'EOF'
		version: 2
		ethernets:
		  nic0:
		    match:
		      macaddress: "52:54:00:4c:4f:01"
		    dhcp4: true
	EOF
	mkfs.vfat -C -n CIDATA "$1/seed.img" 2048 >/dev/null
	mcopy -i "$1/seed.img" "$1/meta-data" "$1/user-data" "$1/network-config" ::/
}

# The keys between cloud-init's BEGIN/END SSH HOST KEY KEYS lines, as
# "type base64" (the console may end lines with \r).
console_keys() { # console log
	tr -d '\r' <"$1" | sed -n '/^-----BEGIN SSH HOST KEY KEYS-----$/,/^-----END SSH HOST KEY KEYS-----$/p' |
		grep -E '^(ssh-|ecdsa-)' | cut -d' ' -f1,2
}

wait_ready() { # log -> 0 once LOAM-READY is there
	local i
	for ((i = 0; i < timeout_s * 5; i++)); do
		grep -qa '^LOAM-READY machine=' "$1" 2>/dev/null && return 0
		kill -0 "$qemu_pid" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}

check_arch() { # arch
	local arch=$1 d=$tmp/$1 fw img port start ms out host_key
	# shellcheck source=scripts/artifacts/x64.env
	source "$root/scripts/artifacts/$arch.env"
	mkdir -p "$d/fw"
	if ! fw=$(entry_path firmware edk2 "$arch") || ! img=$(entry_path image debian-12 "$arch"); then
		bad "$arch: store entries"
		return
	fi
	tar -xzf "$fw" -C "$d/fw"
	cp "$d/fw/$FW_VARS" "$d/vars.fd"
	qemu-img create -q -f qcow2 -b "$img" -F qcow2 "$d/disk.qcow2" "${disk_gib}G"
	ssh-keygen -q -t ed25519 -N '' -C loam-debian-boot -f "$d/key"
	make_seed "$d" "deb-$arch" "$d/key.pub"
	port=$(free_port)
	local vmm
	# shellcheck disable=SC2054 # "virt,gic-version=3" is one word
	case $arch in
	x64) vmm=(qemu-system-x86_64 -M q35 -cpu max) ;;
	arm64) vmm=(qemu-system-aarch64 -M virt,gic-version=3 -cpu cortex-a72) ;;
	esac
	start=$(date +%s%N)
	"${vmm[@]}" -accel tcg -smp 2 -m 1536 -nographic -nodefaults -no-reboot \
		-drive "if=pflash,format=raw,unit=0,readonly=on,file=$d/fw/$FW_CODE" \
		-drive "if=pflash,format=raw,unit=1,file=$d/vars.fd" \
		-drive "if=none,id=disk,format=qcow2,file=$d/disk.qcow2" \
		-device virtio-blk-pci,drive=disk,bootindex=1 \
		-drive "if=none,id=seed,format=raw,readonly=on,file=$d/seed.img" \
		-device virtio-blk-pci,drive=seed \
		-netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:22" \
		-device virtio-net-pci,netdev=n0,mac=52:54:00:4c:4f:01,romfile= \
		-serial "file:$d/console.log" 2>"$d/qemu.err" &
	qemu_pid=$!
	if ! wait_ready "$d/console.log"; then
		bad "$arch: no LOAM-READY line after $((($(date +%s%N) - start) / 1000000000)) s; console:"
		tail -n 40 "$d/console.log" "$d/qemu.err" | cat -v >&2
		stop_vm
		return
	fi
	ms=$((($(date +%s%N) - start) / 1000000))
	printf '%s: LOAM-READY in %d.%01d s (QEMU start, OVMF/AAVMF, TCG, 2 vCPUs)\n' \
		"$arch" $((ms / 1000)) $((ms % 1000 / 100))
	expect "$arch ready line" "LOAM-READY machine=$UNAME_MACHINE" \
		"$(tr -d '\r' <"$d/console.log" | grep -a '^LOAM-READY' | head -n 1)"
	expect "$arch ready lines" 1 "$(grep -ac '^LOAM-READY' "$d/console.log")"

	console_keys "$d/console.log" | sed "s/^/[127.0.0.1]:$port /" >"$d/known_hosts"
	nonempty "$arch host keys on the console" "$(cat "$d/known_hosts")"
	contains "$arch fingerprints on the console" "BEGIN SSH HOST KEY FINGERPRINTS" "$(cat "$d/console.log")"
	host_key=$(console_keys "$d/console.log" | grep '^ssh-ed25519 ' || true)
	contains "$arch ed25519 fingerprint on the console" \
		"$(ssh-keygen -lf - <<<"$host_key" | cut -d' ' -f2)" "$(cat "$d/console.log")"

	# Pinned to the console's keys: no trust on first use.
	out=$(ssh -n -p "$port" -i "$d/key" -o IdentitiesOnly=yes -o BatchMode=yes \
		-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$d/known_hosts" \
		-o HostKeyAlgorithms=ssh-ed25519 -o ConnectTimeout=30 loam@127.0.0.1 \
		'uname -m; hostname; df -B1 --output=size / | tail -n 1; sudo -n true && echo sudo-ok;
		 cloud-init status | sed -n "s/^status: //p"; cut -d" " -f1,2 /etc/ssh/ssh_host_ed25519_key.pub' \
		2>"$d/ssh.err") || {
		bad "$arch: ssh as loam failed: $(cat "$d/ssh.err")"
		stop_vm
		return
	}
	mapfile -t r <<<"$out"
	expect "$arch uname -m" "$UNAME_MACHINE" "${r[0]}"
	expect "$arch hostname" "deb-$arch" "${r[1]}"
	local want=$((disk_gib << 30))
	if ((r[2] > want * 95 / 100 && r[2] <= want)); then ok; else
		bad "$arch df /: ${r[2]} bytes, not within 5 % of $want"
	fi
	expect "$arch sudo -n true" sudo-ok "${r[3]}"
	expect "$arch cloud-init status" "done" "${r[4]}"
	expect "$arch host key served = console's" "$host_key" "${r[5]}"
	stop_vm
}

stop_vm() { # QEMU may be gone already (it exited, or the wait saw it die)
	kill "$qemu_pid" 2>/dev/null || true
	wait "$qemu_pid" 2>/dev/null || true
	qemu_pid=
}

for arch in "${arches[@]}"; do check_arch "$arch"; done
finish
