#!/usr/bin/env bash
# Installs what a group of make targets needs, from Debian's archive only.
# Idempotent and silent when everything is already present: it asks dpkg
# first and calls apt-get only for what is missing.
#
#   scripts/deps.sh build   compilers, libraries, the arm64 cross toolchain
#   scripts/deps.sh test    + servers and emulators the tests start, linters
#   scripts/deps.sh vm      + QEMU, firmware and image-building tools
# test and vm also make sure arm64 binaries run here (qemu-user through
# binfmt_misc, mounted and enabled when it is not): the arm64 root of the
# debian-12 image runs its maintainer scripts that way.
set -euo pipefail

build_pkgs=(cmake make gcc clang libclang-rt-14-dev pkg-config file
	libsqlite3-dev libpq-dev libcurl4-openssl-dev libssh-dev libjansson-dev
	libmicrohttpd-dev libssl-dev
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu
	libjansson-dev:arm64 libssl-dev:arm64)
vm_pkgs=(qemu-system-x86 qemu-system-arm ovmf qemu-efi-aarch64 qemu-utils
	dosfstools mtools cpio genisoimage systemd-boot-efi busybox-static
	curl xz-utils zstd jq binutils
	iproute2 nftables dnsmasq-base openssh-client
	mmdebstrap arch-test qemu-user-static binfmt-support fdisk e2fsprogs python3 openssl)
test_pkgs=(openssh-server openssh-client
	postgresql util-linux procps iproute2 python3 sqlite3 valgrind openssl
	clang-format clang-tidy cppcheck shellcheck file
	chromium chromium-driver python3-selenium prometheus python3-jsonschema python3-yaml
	"${vm_pkgs[@]}")

set -- "${1:-build}"
case $1 in
build) want=("${build_pkgs[@]}") ;;
test) want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
vm) want=("${build_pkgs[@]}" "${vm_pkgs[@]}") ;;
*) echo "usage: $0 build|test|vm" >&2; exit 2 ;;
esac

install_missing() {
	local p st missing=() pairs=()
	for p in "${want[@]}"; do
		st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
		[[ $st == ii* ]] || missing+=("$p")
	done
	[[ ${#missing[@]} -eq 0 ]] && return 0
	if [[ $(id -u) -ne 0 ]]; then
		echo "deps: missing packages: ${missing[*]}" >&2
		echo "deps: run as root, or install them with apt-get" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	if [[ " ${missing[*]} " == *":arm64 "* ]] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
		dpkg --add-architecture arm64
	fi
	apt-get update -qq
	# Multi-Arch: same packages must match across amd64 and arm64, so the
	# amd64 side of each :arm64 package is named too and upgraded with it.
	for p in "${missing[@]}"; do
		[[ $p == *:arm64 ]] && pairs+=("${p%:arm64}")
	done
	apt-get install -y -qq --no-install-recommends "${missing[@]}" "${pairs[@]}" >/dev/null
}

# qemu-aarch64 registered with binfmt_misc (by qemu-user-static, through
# binfmt-support) and enabled; binfmt_misc itself is not mounted on every
# machine (FIELD-NOTES: this one).
enable_arm64_binfmt() {
	local bm=/proc/sys/fs/binfmt_misc
	[[ -e $bm/qemu-aarch64 ]] && grep -qx enabled "$bm/qemu-aarch64" && return 0
	if [[ $(id -u) -ne 0 ]]; then
		echo "deps: arm64 binaries cannot run here: as root, mount binfmt_misc and run" \
			"update-binfmts --enable qemu-aarch64" >&2
		exit 1
	fi
	[[ -e $bm/status ]] || mount -t binfmt_misc binfmt_misc "$bm"
	update-binfmts --enable qemu-aarch64
}

install_missing
[[ $1 == build ]] || enable_arm64_binfmt
