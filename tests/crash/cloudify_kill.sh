#!/usr/bin/env bash
# kill -9 loamd at each label of the cloudify prog in turn (issue 4): the
# test build's fault point for that label (LOAM_FAULT=engine-label-done/
# cloudify.LABEL, docs/crash.md) SIGKILLs loamd right after the label ran
# and before its outcome was applied. After
# a restart without the fault point, cloudify must finish with the host
# `accepting`, exactly one host row, one strand and one agent copy.
# A restart waits for the killed loamd's lease to expire (--lease-s 10 here,
# 30 s by default), so this takes about 10 s per label. Skips (77) without
# the artifact store.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
src=${LOAM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${LOAM_BIN_DIR:-$src/build/check/bin}
store=${LOAM_ARTIFACT_STORE:-$src/build/artifacts/store}
dist=${LOAM_DIST_DIR:-$src/build/dist}
require_store "$store"
labels=(start connect detect_arch upload_agent learn install_artifacts accept wait)

state=
loamd_pid=
cleanup() {
	[[ -n $loamd_pid ]] && kill "$loamd_pid" 2>/dev/null && wait "$loamd_pid" 2>/dev/null
	[[ -n $state ]] && rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_loamd() { # extra env words...
	env "$@" "$bin/loamd" --state-dir "$state" --listen "127.0.0.1:$port" --dist-dir "$dist" \
		--artifact-store "$store" --lease-s 10 >>"$state/loamd.log" 2>&1 &
	loamd_pid=$!
	for ((i = 0; i < 60; i++)); do
		"$bin/loam" sizes >/dev/null 2>&1 && return 0
		kill -0 "$loamd_pid" 2>/dev/null || return 1
		sleep 0.5
	done
	return 1
}
sql() { sqlite3 -readonly -cmd '.timeout 5000' "$state/loam.db" "$@"; }

for label in "${labels[@]}"; do
	state=$(mktemp -d /tmp/loam-cloudify-kill.XXXXXX)
	port=$(free_port)
	export LOAM_URL=http://127.0.0.1:$port LOAM_STATE_DIR=$state
	start_loamd LOAM_FAULT="engine-label-done/cloudify.$label" || bad "$label: loamd did not start"
	# At "start" the woken engine may run the label, and so be killed,
	# before the reply to host add went out: only a live loamd must answer.
	if ! "$bin/loam" host add --local --no-wait >/dev/null 2>&1; then
		sleep 1
		kill -0 "$loamd_pid" 2>/dev/null && bad "$label: host add"
	fi
	# The point fires once the strand reaches the label.
	for ((i = 0; i < 240; i++)); do
		kill -0 "$loamd_pid" 2>/dev/null || break
		sleep 0.5
	done
	wait "$loamd_pid" 2>/dev/null
	rc=$?
	loamd_pid=
	expect "$label: loamd was SIGKILLed at the label" 137 "$rc"
	start_loamd || bad "$label: loamd did not restart"
	for ((i = 0; i < 240; i++)); do
		[[ $(sql "SELECT allocation_state FROM host") == accepting ]] && break
		sleep 0.5
	done
	expect "$label: host accepting after restart" accepting "$(sql "SELECT allocation_state FROM host")"
	expect "$label: exactly one host row" 1 "$(sql "SELECT count(*) FROM host")"
	expect "$label: exactly one strand" 1 "$(sql "SELECT count(*) FROM strand WHERE prog = 'cloudify'")"
	expect "$label: one agent copy" 1 "$(find "$state/host/agent" -name loam-host -type f | wc -l)"
	kill "$loamd_pid" 2>/dev/null && wait "$loamd_pid" 2>/dev/null
	loamd_pid=
	rm -rf "$state"
	state=
done
finish
