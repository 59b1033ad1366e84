#!/usr/bin/env bash
# Real guests, both arches, under TCG, through the agent's VM verbs: the
# images and firmware of the artifact store (`make artifacts`) boot through
# OVMF and AAVMF, and each guest reports its own machine on the serial
# console (LOAM-READY machine=x86_64 / aarch64) and the seed's hostname.
# The direct-kernel fast path (no UEFI) boots the same image's kernel too.
# Boot times are printed as figures, never asserted. The store is built
# first when missing (as tests/artifacts/boot.sh does; CTest runs that test
# before this one so the two never build it at once).
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
agent=${LOAM_BIN_DIR:?}/loam-host
root=${LOAM_SOURCE_DIR:?}
store=${LOAM_ARTIFACT_STORE:-$root/build/artifacts/store}
if [[ ! -f $store/manifest.json ]]; then
	echo "vm_boot: no store at $store; building it (scripts/build-artifacts.sh)"
	LOAM_ARTIFACT_OUT=$(dirname "$store") "$root/scripts/build-artifacts.sh" ||
		{ echo "FAIL: could not build the artifact store" >&2; exit 1; }
fi

state=$(mktemp -d /tmp/loam-vmboot.XXXXXX)
chmod 0755 "$state"
ids=()
cleanup() {
	for id in "${ids[@]}"; do "$agent" vm-purge "$id" --state-dir "$state" >/dev/null 2>&1; done
	rm -rf "$state"
}
trap cleanup EXIT
suffix=$(printf '%x%x' $$ "$(date +%s)")

unpack() { store_unpack "$store" "$state/art" "$@"; } # component name arch

declare -A machine=([x64]=x86_64 [arm64]=aarch64)
declare -A fwfile=([x64]=OVMF [arm64]=AAVMF)
declare -A started=()

spec() { # id arch img fw direct_kernel_json
	cat <<JSON
{"id":"$1","name":"boot-$1","arch":"$2","vcpus":2,"memory_mib":512,"hugepages":false,"kvm":false,
 "image":"$(ls "$3"/loam-tiny.*.img)","fw_code":"$4/${fwfile[$2]}_CODE.fd",
 "fw_vars":"$4/${fwfile[$2]}_VARS.fd",
 "seed":{"meta-data":"instance-id: $1\nlocal-hostname: host-$1\n","user-data":"#cloud-config\n"},
 "direct_kernel":$5}
JSON
}

boot() { # id arch img fw direct_kernel_json
	ids+=("$1")
	local out
	out=$(spec "$@" | "$agent" vm-prep --state-dir "$state") || { bad "$1: vm-prep failed"; return; }
	# A kernel booted without UEFI has no NVRAM: no VARS copy to make.
	if [[ $5 == null ]]; then
		[[ -s $state/vms/$1/VARS.fd && $(jget vars <<<"$out") == "$state/vms/$1/VARS.fd" ]] &&
			ok || bad "$1: firmware boot without its VARS copy"
	else
		[[ ! -e $state/vms/$1/VARS.fd && $(jget vars <<<"$out") == null ]] && ok ||
			bad "$1: a VARS copy for a kernel booted without UEFI"
	fi
	started[$1]=$(date +%s%N)
	"$agent" vm-start "$1" --state-dir "$state" >/dev/null || bad "$1: vm-start failed"
}

direct_kernel() { # arch img
	local kernel=$2/vmlinuz
	[[ $1 == x64 && -f $2/vmlinux ]] && kernel=$2/vmlinux # PVH: fastest without UEFI
	printf '{"kernel":"%s","initrd":"%s","cmdline":"%s","firmware":false}' \
		"$kernel" "$2/initrd.img" "$(cat "$2/cmdline")"
}

declare -A arch_of=()
for arch in x64 arm64; do
	img=$(unpack image loam-tiny "$arch") || continue
	fw=$(unpack firmware edk2 "$arch") || continue
	id=bu${arch}${suffix} && arch_of[$id]=$arch
	boot "$id" "$arch" "$img" "$fw" null
	id=bk${arch}${suffix} && arch_of[$id]=$arch
	boot "$id" "$arch" "$img" "$fw" "$(direct_kernel "$arch" "$img")"
done

# unpack runs in a subshell, so its failures show here as missing VMs.
expect "guests started (firmware and direct kernel, both arches)" 4 "${#ids[@]}"

# Wait for each VM with the agent's vm-wait-ready (what the VM prog's
# wait_ready label calls); the guests boot at once, so waiting for them one
# after the other costs nothing. 300 s is a hang guard, not a threshold.
declare -A done_at=()
for id in "${ids[@]}"; do
	out=$("$agent" vm-wait-ready "$id" --state-dir "$state" --timeout 300)
	if [[ $(jget ready <<<"$out") == true ]]; then
		done_at[$id]=$(date +%s%N)
		expect "$id wait-ready did not time out" false "$(jget timed_out <<<"$out")"
		expect "$id reports its machine" "${machine[${arch_of[$id]}]}" "$(jget guest_machine <<<"$out")"
		grep -q "LOAM-SEED hostname=host-$id" <<<"$(jget serial_tail <<<"$out")" && ok ||
			bad "$id: the seed's hostname did not reach the guest"
		out=$("$agent" vm-status "$id" --state-dir "$state")
		expect "$id QMP status" running "$(jget qmp <<<"$out")"
		expect "$id vm-status sees the readiness line" true "$(jget ready <<<"$out")"
	elif [[ $(jget running <<<"$out") != true ]]; then
		bad "$id: QEMU died before the guest was ready: $(jget serial_tail <<<"$out" | tail -3)"
		done_at[$id]=0
	fi
done
for id in "${ids[@]}"; do
	if [[ -z ${done_at[$id]:-} ]]; then
		bad "$id never reported LOAM-READY"
	elif [[ ${done_at[$id]} != 0 ]]; then
		kind=firmware && [[ $id == bk* ]] && kind="direct kernel"
		printf 'boot %-6s %-14s %6.1f s to LOAM-READY (4 guests at once, TCG; seen at most this late)\n' \
			"${arch_of[$id]}" "$kind" "$(((done_at[$id] - started[$id]) / 1000000))e-3"
	fi
	out=$("$agent" vm-stop "$id" --state-dir "$state" --timeout 2) || bad "$id: vm-stop failed"
	expect "$id stopped" true "$(jget was_running <<<"$out")"
done
finish
