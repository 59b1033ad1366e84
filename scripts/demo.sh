#!/usr/bin/env bash
# `make demo` and `make demo-clean` (issues 6 and 12): the whole of loam end
# to end on this machine. demo installs what it needs, builds the artifact
# store (cached), starts loamd on SQLite with the default state dir,
# cloudifies this machine with --local (x64 TCG allowed, arm64 emulated, CPU
# overcommit 2 so that two standard-2 VMs fit on 2 cores), boots one x64 and
# one arm64 standard-2 debian-12 VM through their own firmware with the
# user's SSH key (~/.ssh/id_ed25519.pub, id_ecdsa.pub or id_rsa.pub; without
# one, a key it makes in the state dir), and prints how to log in. Guest
# egress stays off. It returns once both are running, leaving loamd and
# both VMs up. `demo.sh clean` removes everything the demo made: VMs (users,
# dirs, processes), the host, loamd and its state dir (which holds the
# installed artifacts, the agent and the key it made).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/build/bin
# shellcheck source=scripts/demo-lib.sh
source "$ROOT/scripts/demo-lib.sh"
STATE=$(demo_state_dir loam)
export LOAM_URL=http://127.0.0.1:7070
export LOAM_STATE_DIR=$STATE
PIDFILE=$STATE/loamd.pid
LOG=$STATE/loamd.log
VMS=(demo-x64 demo-arm64)
CLEAN="make demo-clean"
# A debian-12 boot under TCG takes minutes (docs/images.md).
BOOT_TIMEOUT_S=${LOAM_DEMO_TIMEOUT_S:-1800}
IMAGE=debian-12
KEY=""

# True once the host is accepting with the image installed for both arches.
host_ready() {
	loam host show local --json 2>/dev/null | jq -e --arg i "$IMAGE" '
		.state == "accepting" and
		([.artifacts[] | select(.component == "image" and .name == $i and .state == "installed")
		  | .arch] | (index("x64") != null and index("arm64") != null))' >/dev/null
}

cloudify_local() {
	loam host show local --json >/dev/null 2>&1 || loam host add --local >/dev/null
	loam host set local --emulate arm64 --allow-tcg --cpu-overcommit 2 >/dev/null
	local t0=$SECONDS
	until host_ready; do
		local label
		label=$(loam host show local --json | jq -r '"\(.state) / \(.label // "-") \(.last_error // "")"')
		printf '\r  host local: %-90.90s' "$label"
		((SECONDS - t0 < BOOT_TIMEOUT_S)) || die "host local did not get ready: $label"
		sleep 2
	done
	printf '\r  host local: accepting, artifacts installed for x64 and arm64%40s\n' ""
}

# Through the API: it takes the image and the key (POST /v1/vms).
create_vms() {
	local vm body
	for vm in "${VMS[@]}"; do
		loam vm show "$vm" --json >/dev/null 2>&1 && continue
		body=$(jq -nc --arg n "$vm" --arg a "${vm#demo-}" --arg i "$IMAGE" --arg k "$(cat "$KEY.pub")" \
			'{name: $n, arch: $a, size: "standard-2", image: $i, ssh_keys: [$k]}')
		curl -sf -H "Authorization: Bearer $(cat "$STATE/token")" -H 'Content-Type: application/json' \
			-d "$body" "$LOAM_URL/v1/vms" >/dev/null || die "creating $vm failed"
	done
}

report() {
	say "loam vm ls"
	loam vm ls
	say "each guest: its machine, address and host keys (read from its console)"
	for vm in "${VMS[@]}"; do
		loam vm show "$vm" --json |
			jq -r '"  \(.name)\t\(.guest_machine)\t\(.ipv4)\t\(.ssh_host_keys | join(" "))"'
	done
	say "artifact versions each VM runs with"
	for vm in "${VMS[@]}"; do
		echo "  $vm:"
		loam vm show "$vm" --json |
			jq -r '.artifacts[] | "    \(.component)\t\(.name) \(.version) (\(.arch))"'
	done
	local id=""
	[[ $KEY == "$STATE/demo-key" ]] && id=" -i $KEY"
	say "log in (the host keys are pinned: no question asked)"
	cat <<EOF
  $BIN/loam vm ssh demo-x64$id
  $BIN/loam vm ssh demo-arm64$id -- uname -a
EOF
	say "what next"
	cat <<EOF
  export PATH=$BIN:\$PATH
  loam vm ls; loam vm show demo-arm64     (LOAM_URL=$LOAM_URL, token in $STATE/token)
  loam host show local                    the host, its facts and installed artifacts
  less $STATE/host/vms/ID/serial.log      a guest's firmware + kernel console (ID: loam vm show)
  loam vm stop|start|reboot demo-x64      the life cycle
  loam host set local --egress on         let guests reach the outside (off in the demo)
  tail -f $LOG                            loamd's log
  make demo-clean                         remove everything the demo made
EOF
}

demo() {
	build_all
	say "loamd"
	start_loamd --listen 127.0.0.1:7070
	say "cloudify this machine (arm64 emulated, TCG allowed, CPU overcommit 2)"
	cloudify_local
	say "two standard-2 $IMAGE VMs: x64 (OVMF) and arm64 (AAVMF), both under TCG"
	pick_key
	create_vms
	wait_running "$BOOT_TIMEOUT_S"
	report
}

clean() {
	if loamd_running; then
		for vm in "${VMS[@]}"; do
			loam vm rm "$vm" >/dev/null 2>&1 || true
		done
		wait_vms_gone
		loam host rm local >/dev/null 2>&1 || true
		stop_loamd
	fi
	purge_leftovers
	rm -rf "$STATE"
	echo "demo-clean: removed the demo's VMs, host, loamd and $STATE"
}

case "${1:-demo}" in
demo) demo ;;
clean) clean ;;
*) echo "usage: $0 [clean]" >&2; exit 2 ;;
esac
