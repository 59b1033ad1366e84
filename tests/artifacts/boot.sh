#!/usr/bin/env bash
# Boot check of the artifact store: for each arch, boots the store's guest
# image under TCG through that arch's store firmware (UEFI -> UKI on the ESP)
# and again by direct kernel boot, each time with a NoCloud seed attached,
# and waits for the guest contract's lines (docs/artifacts.md):
#   LOAM-SEED hostname=<seed's local-hostname>
#   LOAM-READY machine=<x86_64|aarch64>
# Prints the time to READY. Usable by hand: tests/artifacts/boot.sh [ARCH...]
# The store is built first when missing (make check builds it; the download
# cache survives runs). LOAM_ARTIFACT_STORE overrides the store directory.
set -euo pipefail
root=${LOAM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
store=${LOAM_ARTIFACT_STORE:-$root/build/artifacts/store}
timeout_s=${LOAM_BOOT_TIMEOUT:-180}
arches=("$@")
[[ ${#arches[@]} -gt 0 ]] || arches=(x64 arm64)

pass=0
fail=0
tmp=$(mktemp -d /tmp/loam-boot.XXXXXX)
qemu_pid=
cleanup() {
	[[ -n $qemu_pid ]] && kill "$qemu_pid" 2>/dev/null && wait "$qemu_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

if [[ ! -f $store/manifest.json ]]; then
	echo "boot: no store at $store; building it (scripts/build-artifacts.sh)"
	LOAM_ARTIFACT_OUT=$(dirname "$store") "$root/scripts/build-artifacts.sh"
fi

entry_path() { # component arch -> verified local path of the entry's file
	local e p sum
	e=$(jq -c --arg c "$1" --arg a "$2" \
		'[.entries[] | select(.component==$c and .arch==$a and
			(.component != "image" or .name == "loam-tiny"))] | last' "$store/manifest.json")
	[[ $e != null ]] || { echo "boot: no $1 for $2 in $store/manifest.json" >&2; return 1; }
	p=$store/$(jq -r .path <<<"$e")
	sum=$(sha256sum "$p" | cut -c1-64)
	[[ $sum == $(jq -r .sha256 <<<"$e") ]] ||
		{ echo "boot: $p does not match its manifest digest" >&2; return 1; }
	echo "$p"
}

make_seed() { # dir hostname
	printf 'instance-id: boot-check\nlocal-hostname: %s\n' "$2" >"$1/meta-data"
	printf '#cloud-config\n' >"$1/user-data"
	mkfs.vfat -C -n CIDATA "$1/seed.img" 2048 >/dev/null
	mcopy -i "$1/seed.img" "$1/meta-data" "$1/user-data" ::/
}

# Runs QEMU with the given args until the log shows READY (or it times out).
boot() { # label machine hostname log qemu-args...
	local label=$1 machine=$2 host=$3 log=$4 start ms i
	shift 4
	start=$(date +%s%N)
	"$@" -nographic -no-reboot -nodefaults -m 1024 -serial "file:$log" 2>"$log.err" &
	qemu_pid=$!
	for ((i = 0; i < timeout_s * 10; i++)); do
		grep -q "LOAM-READY" "$log" 2>/dev/null && break
		kill -0 "$qemu_pid" 2>/dev/null || break
		sleep 0.1
	done
	ms=$((($(date +%s%N) - start) / 1000000))
	kill "$qemu_pid" 2>/dev/null
	wait "$qemu_pid" 2>/dev/null || true
	qemu_pid=
	if grep -qa "^LOAM-READY machine=$machine.\?$" "$log" &&
		grep -qa "^LOAM-SEED hostname=$host.\?$" "$log"; then
		printf 'ok   %-22s READY in %d.%01d s\n' "$label" $((ms / 1000)) $((ms % 1000 / 100))
		pass=$((pass + 1))
	else
		echo "FAIL $label: no 'LOAM-READY machine=$machine' + seed line after ${ms} ms; console:"
		tail -n 30 "$log" "$log.err" | cat -v
		fail=$((fail + 1))
	fi
}

for arch in "${arches[@]}"; do
	# shellcheck source=scripts/artifacts/x64.env
	source "$root/scripts/artifacts/$arch.env"
	d=$tmp/$arch
	mkdir -p "$d/fw" "$d/img"
	fw=$(entry_path firmware "$arch")
	img=$(entry_path image "$arch")
	tar -xzf "$fw" -C "$d/fw"
	tar -xzf "$img" -C "$d/img"
	make_seed "$d" "seed-$arch"
	cp "$d/fw/$FW_VARS" "$d/vars.fd" # per-run copy; the store stays pristine
	qemu-img create -q -f qcow2 -b "$d/img/loam-tiny.$IMAGE_SUFFIX" -F raw "$d/disk.qcow2"
	disks=(-drive "if=virtio,format=qcow2,file=$d/disk.qcow2"
		-drive "if=virtio,format=raw,file=$d/seed.img")
	# shellcheck disable=SC2054 # "virt,gic-version=3" is one word
	case $arch in
	x64) vmm=(qemu-system-x86_64 -accel tcg -M q35 -cpu max) kernel=$d/img/vmlinux ;;
	arm64) vmm=(qemu-system-aarch64 -accel tcg -M virt,gic-version=3 -cpu cortex-a72)
		kernel=$d/img/vmlinuz ;;
	esac
	boot "$arch uefi" "$UNAME_MACHINE" "seed-$arch" "$d/uefi.log" "${vmm[@]}" \
		-drive "if=pflash,format=raw,unit=0,readonly=on,file=$d/fw/$FW_CODE" \
		-drive "if=pflash,format=raw,unit=1,file=$d/vars.fd" "${disks[@]}"
	boot "$arch direct-kernel" "$UNAME_MACHINE" "seed-$arch" "$d/direct.log" "${vmm[@]}" \
		-kernel "$kernel" -initrd "$d/img/initrd.img" -append "$(cat "$d/img/cmdline")" \
		"${disks[@]}"
done
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
