#!/usr/bin/env bash
# Starts the real SSH test hosts (tests/hosts/ssh-hosts.sh: an x64 sshd and
# a chrooted arm64 one), runs test_cloudify_ssh against them, and stops
# them again whatever happens.
set -uo pipefail
src=${LOAM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${LOAM_BIN_DIR:-$src/build/check/bin}/../tests/test_cloudify_ssh
hosts=$(mktemp -d /tmp/loam-cloudify-hosts.XXXXXX)
work=$(mktemp -d /tmp/loam-cloudify-work.XXXXXX)
cleanup() {
	bash "$src/tests/hosts/stop-ssh-hosts.sh" "$hosts"
	rm -rf "$hosts" "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bash "$src/tests/hosts/start-ssh-hosts.sh" "$hosts" all || {
	echo "cloudify_ssh: the test hosts did not start" >&2
	exit 1
}
# shellcheck disable=SC1091
source "$hosts/hosts.env"
export WORK_DIR=$work
"$bin"
