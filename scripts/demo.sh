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
if [[ $(id -u) -eq 0 ]]; then
	STATE=/var/lib/loam
else
	STATE=${XDG_STATE_HOME:-$HOME/.local/state}/loam
fi
export LOAM_URL=http://127.0.0.1:7070
export LOAM_STATE_DIR=$STATE
PIDFILE=$STATE/loamd.pid
LOG=$STATE/loamd.log
VMS=(demo-x64 demo-arm64)
# A debian-12 boot under TCG takes minutes (docs/images.md).
BOOT_TIMEOUT_S=${LOAM_DEMO_TIMEOUT_S:-1800}
IMAGE=debian-12
KEY=""

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() {
	echo "demo: $*" >&2
	[[ -f $LOG ]] && { echo "demo: last lines of $LOG:" >&2; tail -n 20 "$LOG" >&2; }
	exit 1
}
loam() { "$BIN/loam" "$@"; }

loamd_running() {
	[[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

start_loamd() {
	if loamd_running; then
		echo "loamd already runs (pid $(cat "$PIDFILE"))"
	else
		mkdir -p "$STATE"
		# 0711: the VM users' QEMU runs from the artifacts installed under
		# it and must pass through; nobody else may list it (the token and
		# the database are loamd's own 0600 files).
		chmod 711 "$STATE"
		# setsid: loamd outlives this script and make's process group.
		setsid "$BIN/loamd" --artifact-store "$ROOT/build/artifacts/store" >>"$LOG" 2>&1 </dev/null &
		echo $! >"$PIDFILE"
		echo "loamd started (pid $!, state dir $STATE, log $LOG)"
	fi
	for _ in $(seq 100); do
		loam host ls >/dev/null 2>&1 && return 0
		loamd_running || die "loamd exited"
		sleep 0.2
	done
	die "loamd does not answer on $LOAM_URL"
}

# True once the host is accepting with the image installed for both arches.
host_ready() {
	loam host show local --json 2>/dev/null | jq -e --arg i "$IMAGE" '
		.state == "accepting" and
		([.artifacts[] | select(.component == "image" and .name == $i and .state == "installed")
		  | .arch] | (index("x64") != null and index("arm64") != null))' >/dev/null
}

# The user's public key, or one the demo makes (and demo-clean removes).
pick_key() {
	local k
	for k in id_ed25519 id_ecdsa id_rsa; do
		if [[ -f $HOME/.ssh/$k.pub ]]; then
			KEY=$HOME/.ssh/$k
			echo "  logging in with your key $KEY.pub"
			return
		fi
	done
	KEY=$STATE/demo-key
	[[ -f $KEY.pub ]] || ssh-keygen -q -t ed25519 -N '' -C loam-demo -f "$KEY"
	echo "  you have no key in ~/.ssh: made $KEY for the demo"
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

wait_running() {
	local t0=$SECONDS
	while :; do
		local line="" all=1
		for vm in "${VMS[@]}"; do
			local st
			st=$(loam vm show "$vm" --json | jq -r .state)
			line+="$vm: $st   "
			[[ $st == running ]] || all=0
			[[ $st == failed ]] && { loam vm show "$vm"; die "$vm failed"; }
		done
		printf '\r  [%3ds] %s' $((SECONDS - t0)) "$line"
		((all)) && break
		((SECONDS - t0 < BOOT_TIMEOUT_S)) || die "the VMs did not come up in ${BOOT_TIMEOUT_S}s"
		sleep 1
	done
	echo
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
	say "dependencies and build"
	"$ROOT/scripts/deps.sh" test
	"$ROOT/scripts/deps.sh" vm
	"$ROOT/scripts/build.sh" release
	say "artifact store (cached)"
	"$ROOT/scripts/build-artifacts.sh"
	say "loamd"
	start_loamd
	say "cloudify this machine (arm64 emulated, TCG allowed, CPU overcommit 2)"
	cloudify_local
	say "two standard-2 $IMAGE VMs: x64 (OVMF) and arm64 (AAVMF), both under TCG"
	pick_key
	create_vms
	wait_running
	report
}

# Waits until none of the demo's VMs is left (each strand purges its VM).
wait_vms_gone() {
	for _ in $(seq 300); do
		local left=0
		for vm in "${VMS[@]}"; do
			loam vm show "$vm" --json >/dev/null 2>&1 && left=1
		done
		((left)) || return 0
		sleep 1
	done
	echo "demo-clean: VMs still present after 300 s" >&2
}

# Whatever is left of VMs on this machine (loamd gone or stuck): purge by
# hand with the agent, which removes the process, the dir and the user.
purge_leftovers() {
	local agent
	agent=$(ls "$STATE"/host/agent/*/loam-host 2>/dev/null | head -n1 || true)
	[[ -n $agent && -d $STATE/host/vms ]] || return 0
	for d in "$STATE"/host/vms/*/; do
		[[ -d $d ]] || continue
		"$agent" vm-purge "$(basename "$d")" --state-dir "$STATE/host" >/dev/null || true
	done
}

clean() {
	if loamd_running; then
		for vm in "${VMS[@]}"; do
			loam vm rm "$vm" >/dev/null 2>&1 || true
		done
		wait_vms_gone
		loam host rm local >/dev/null 2>&1 || true
		local pid
		pid=$(cat "$PIDFILE")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
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
