#!/usr/bin/env bash
# Starts the real SSH test hosts (tests/hosts/ssh-hosts.sh), runs the ssh
# transport test against them, and stops them again whatever happens.
set -uo pipefail
src=${LOAM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${LOAM_BIN_DIR:-$src/build/check/bin}/../tests/test_transport_ssh
hosts=$(mktemp -d /tmp/loam-test-hosts.XXXXXX)
work=$(mktemp -d /tmp/loam-test-ssh-work.XXXXXX)
cleanup() {
	bash "$src/tests/hosts/stop-ssh-hosts.sh" "$hosts"
	rm -rf "$hosts" "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bash "$src/tests/hosts/start-ssh-hosts.sh" "$hosts" all || {
	echo "ssh_test: the test hosts did not start" >&2
	for log in "$hosts"/*/sshd.log; do [[ -f $log ]] && tail -n 5 "$log" >&2; done
	exit 1
}
# shellcheck disable=SC1091
source "$hosts/hosts.env"
# A port with no listener, for the unreachable-host case.
CLOSED_PORT=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export CLOSED_PORT WORK_DIR=$work
${LOAM_TEST_WRAPPER:-} "$bin"
