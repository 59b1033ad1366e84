#!/usr/bin/env bash
# The `loam-host arch` contract (docs/design.md §4), on this build's agent and on
# both static dist agents, the arm64 one under qemu-aarch64-static.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bin=${LOAM_BIN_DIR:?}/loam-host
dist=${LOAM_DIST_DIR:?}

native=$(uname -m)
want_native=$([[ $native == aarch64 ]] && echo arm64 || echo x64)
expect "arch on this machine" "$want_native" "$("$bin" arch)"
expect "contract list" "arm64 x64 x64 arm64 x64" \
	"$("$bin" arch aarch64 AMD64 x86_64-pc-linux-gnu linux/arm64/v8 'Intel 64' | tr '\n' ' ' | sed 's/ $//')"

out=$("$bin" arch i686 2>/tmp/arch_err.$$); rc=$?
expect "i686 exit status" 2 "$rc"
expect "i686 stdout" "" "$out"
grep -q "i686" /tmp/arch_err.$$ && grep -q "32-bit" /tmp/arch_err.$$ && ok || bad "i686 stderr: $(cat /tmp/arch_err.$$)"

out=$("$bin" arch x64 riscv64 arm64 2>/tmp/arch_err.$$); rc=$?
expect "mixed exit status" 2 "$rc"
expect "mixed stdout keeps order, skips refused" "x64 arm64" "$(echo $out)"
grep -q "riscv64" /tmp/arch_err.$$ && ok || bad "riscv64 not named on stderr"
rm -f /tmp/arch_err.$$

for a in x64 arm64; do
	f=$dist/loam-host-$a
	if [[ ! -x $f ]]; then bad "$f missing (run make)"; continue; fi
	file -L "$f" | grep -q "statically linked" && ok || bad "$f is not statically linked"
done
file -L "$dist/loam-host-x64" | grep -q "x86-64" && ok || bad "loam-host-x64 is not x86-64"
file -L "$dist/loam-host-arm64" | grep -q "ARM aarch64" && ok || bad "loam-host-arm64 is not aarch64"
expect "x64 dist agent arch" x64 "$("$dist/loam-host-x64" arch)"
if command -v qemu-aarch64-static >/dev/null; then
	expect "arm64 dist agent under qemu-user" arm64 "$(qemu-aarch64-static "$dist/loam-host-arm64" arch)"
	expect "arm64 dist agent normalizes" "x64" "$(qemu-aarch64-static "$dist/loam-host-arm64" arch amd64)"
else
	bad "qemu-aarch64-static missing"
fi
finish
