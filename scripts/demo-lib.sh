# shellcheck shell=bash disable=SC2154 # ROOT BIN STATE LOG PIDFILE VMS: set by the sourcing script
# What `make demo` (scripts/demo.sh) and `make demo-fleet`
# (scripts/demo-fleet.sh) share: headings and errors, their own loamd
# (started detached, found again by its pid file), waiting for their VMs
# to run or to be gone. The sourcing script sets ROOT, BIN, STATE, LOG,
# PIDFILE, LOAM_URL, CLEAN (the command that undoes it) and the VMS array
# before calling any of them.

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() {
	echo "${0##*/}: $*" >&2
	[[ -f $LOG ]] && { echo "last lines of $LOG:" >&2; tail -n 20 "$LOG" >&2; }
	echo "${0##*/}: what was made so far stays up; $CLEAN removes it" >&2
	exit 1
}
loam() { "$BIN/loam" "$@"; }

# The default state dir of a demo: /var/lib/NAME as root, else the user's.
demo_state_dir() { # name
	if [[ $(id -u) -eq 0 ]]; then
		echo "/var/lib/$1"
	else
		echo "${XDG_STATE_HOME:-$HOME/.local/state}/$1"
	fi
}

# The user's public key (KEY is its private half), or one the demo makes in
# its state dir (which the demo's clean removes).
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

# What a demo needs first: its packages, the release build and the
# artifact store (each a no-op when up to date).
build_all() {
	say "dependencies and build"
	"$ROOT/scripts/deps.sh" test
	"$ROOT/scripts/deps.sh" vm
	"$ROOT/scripts/build.sh" release
	say "artifact store (cached)"
	"$ROOT/scripts/build-artifacts.sh"
}

loamd_running() {
	[[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

start_loamd() { # loamd's arguments besides the artifact store
	if loamd_running; then
		echo "loamd already runs (pid $(cat "$PIDFILE"))"
	else
		mkdir -p "$STATE"
		# 0711: the VM users' QEMU runs from the artifacts installed under
		# it and must pass through; nobody else may list it (the token and
		# the database are loamd's own 0600 files).
		chmod 711 "$STATE"
		# setsid: loamd outlives this script and make's process group.
		setsid "$BIN/loamd" --state-dir "$STATE" --artifact-store "$ROOT/build/artifacts/store" "$@" \
			>>"$LOG" 2>&1 </dev/null &
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

stop_loamd() {
	loamd_running || return 0
	local pid
	pid=$(cat "$PIDFILE")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
}

# Waits until every VM in VMS runs, showing each one's state on one line;
# a failed VM, or none running after the timeout, ends the demo.
wait_running() { # timeout_s
	local t0=$SECONDS vm
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
		((SECONDS - t0 < $1)) || die "the VMs did not come up in ${1}s"
		sleep 1
	done
	echo
}

# Waits until none of the VMs in VMS is left (each strand purges its VM).
wait_vms_gone() {
	local vm
	for _ in $(seq 300); do
		local left=0
		for vm in "${VMS[@]}"; do
			loam vm show "$vm" --json >/dev/null 2>&1 && left=1
		done
		((left)) || return 0
		sleep 1
	done
	echo "${0##*/}: VMs still present after 300 s" >&2
}

# Whatever is left of VMs on this machine (loamd gone or stuck): purge by
# hand with the agent, which removes the process, the dir and the user.
purge_leftovers() {
	local agents d
	agents=("$STATE"/host/agent/*/loam-host)
	[[ -x ${agents[0]} && -d $STATE/host/vms ]] || return 0
	for d in "$STATE"/host/vms/*/; do
		[[ -d $d ]] || continue
		"${agents[0]}" vm-purge "$(basename "$d")" --state-dir "$STATE/host" >/dev/null || true
	done
}
