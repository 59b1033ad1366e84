#!/usr/bin/env bash
# Per-arch installs on the real SSH test hosts (tests/hosts/): starts them,
# serves a small store over HTTP (python3 -m http.server on a free port) and
# runs test_artifact_install_hosts, which uploads each host's static agent
# and installs that arch's artifacts (firmware, image and a storage bundle
# per host arch) through the ssh transport.
set -uo pipefail
src=${LOAM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${LOAM_BIN_DIR:-$src/build/check/bin}/../tests/test_artifact_install_hosts
export LOAM_DIST_DIR=${LOAM_DIST_DIR:-$src/build/dist}
hosts=$(mktemp -d /tmp/loam-art-hosts.XXXXXX)
work=$(mktemp -d /tmp/loam-art-work.XXXXXX)
server=
cleanup() {
	[[ -n $server ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
	bash "$src/tests/hosts/stop-ssh-hosts.sh" "$hosts"
	rm -rf "$hosts" "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for a in x64 arm64; do
	[[ -x $LOAM_DIST_DIR/loam-host-$a ]] || { echo "no $LOAM_DIST_DIR/loam-host-$a; run make" >&2; exit 1; }
done
store=$work/store
for arch in x64 arm64; do
	mkdir -p "$work/fw-$arch" "$store/firmware/edk2/1.0/$arch" "$store/image/g/2.0/$arch"
	head -c 300000 /dev/urandom >"$work/fw-$arch/CODE.fd"
	head -c 1000 /dev/urandom >"$work/fw-$arch/VARS.fd"
	tar -C "$work/fw-$arch" -czf "$store/firmware/edk2/1.0/$arch/edk2.tar.gz" .
	head -c 200000 /dev/urandom >"$store/image/g/2.0/$arch/g.img"
	mkdir -p "$work/qsd-$arch/bin" "$store/storage/qemu-storage-daemon/1.0/$arch"
	head -c 50000 /dev/urandom >"$work/qsd-$arch/bin/qemu-storage-daemon"
	tar -C "$work/qsd-$arch" -czf "$store/storage/qemu-storage-daemon/1.0/$arch/qsd.tar.gz" .
done
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$store" >"$work/http.log" 2>&1 &
server=$!
for _ in $(seq 100); do
	port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$work/http.log" | head -n 1)
	[[ -n $port ]] && break
	sleep 0.1
done
[[ -n $port ]] || { echo "http.server did not start" >&2; exit 1; }

bash "$src/tests/hosts/start-ssh-hosts.sh" "$hosts" all || {
	echo "install_hosts: the test hosts did not start" >&2
	exit 1
}
# shellcheck disable=SC1091
source "$hosts/hosts.env"
export SSH_KEY X64_PORT X64_HOST_KEY ARM64_PORT ARM64_HOST_KEY ARM64_ROOT
export WORK_DIR=$work LOAM_TEST_STORE=$store
export LOAM_TEST_BASE_URL=http://127.0.0.1:$port
${LOAM_TEST_WRAPPER:-} "$bin"
