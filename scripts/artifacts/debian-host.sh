#!/usr/bin/env bash
# The root file system of the arm64 test host (tests/hosts/debian-arm64.sh):
# a Debian 12 arm64 server userland, every binary in it arm64, run here
# under qemu-user. Built with the debian-12 image's recipe
# (scripts/artifacts/debian-root.sh: same hooks, same .deb cache) and kept
# in the artifact cache under a key of its inputs, like an artifact:
#
#   scripts/artifacts/debian-host.sh        prints the root's path, building
#                                           it first when it is not cached
#
#   $LOAM_ARTIFACT_CACHE/debian/host-arm64/<key>/root      the tree
#   $LOAM_ARTIFACT_CACHE/debian/host-arm64/<key>/packages  what it holds
#
# LOAM_ARTIFACT_FORCE=1 rebuilds it (from the archive as it is now). The
# tree is never written after it is built: hosts run on an overlay of it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
cache=${LOAM_ARTIFACT_CACHE:-/var/cache/loam/artifacts}
deb_arch=arm64
log() { echo "debian-host: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}
SOURCE_DATE_EPOCH=$(jq -r '.source_date_epoch' "$src/artifacts/manifest.json")
export SOURCE_DATE_EPOCH TZ=UTC LC_ALL=C
# shellcheck source=scripts/artifacts/debian-root.sh
source "$here/debian-root.sh"

# A server's base: sshd, the network tools loam drives (ip, nft, dnsmasq),
# what loam-host uses to fetch and make disks and seeds (curl, qemu-img,
# mkfs.vfat, mtools), and the shared libraries of the QEMU binaries loam
# installs there itself (qemu-system-arm's and qemu-utils' Depends): loam
# unpacks its pinned VMM and storage daemon into its own prefix, but cannot
# install system libraries.
# python3-minimal: the shared recipe's last step byte-compiles the root's
# python dirs (some of these packages make one) with a python of the same
# version, and needs one in the root; a Debian server has it anyway.
host_pkgs=openssh-server,iproute2,nftables,dnsmasq-base,curl,procps,qemu-utils,dosfstools,mtools
host_pkgs+=,python3-minimal
host_pkgs+=,libaio1,libbpf1,libcapstone4,libfdt1,libfuse3-3,libglib2.0-0,libgmp10,libgnutls30
host_pkgs+=,libibverbs1,libjpeg62-turbo,libnuma1,libpixman-1-0,libpmem1,libpng16-16,librdmacm1
host_pkgs+=,libsasl2-2,libseccomp2,libslirp0,libudev1,liburing2,libvdeplug2,libzstd1,zlib1g

# Keyed by what the tree is made of (the shared recipe, the package list,
# the arch, the epoch), not by this script's text: editing the comments
# or the cache logic here does not cost a 10-minute rebuild.
key=$({
	cat "$here/debian-root.sh" "$here/debian-hooks.sh"
	echo "$deb_arch $host_pkgs $SOURCE_DATE_EPOCH"
} | sha256sum | cut -c1-16)
base=$cache/debian/host-$deb_arch
dir=$base/$key

build() {
	local t tmp
	t=$(debian_now)
	tmp=$(mktemp -d "$base/.build.XXXXXX")
	# A failed build (die exits) leaves nothing but its log, quoted above.
	# shellcheck disable=SC2064 # tmp is fixed now
	trap "debian_discard '$tmp/root'; rm -rf '$tmp'" EXIT
	debian_step "$deb_arch host root (mmdebstrap)" debian_root "$deb_arch" "$tmp/root" \
		"$cache/debian/debs/$deb_arch" "$tmp/mmdebstrap.log" "$host_pkgs"
	debian_packages "$tmp/root" >"$tmp/packages"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	trap - EXIT
	log "$deb_arch host root $key: built in $(debian_elapsed "$t") s," \
		"$(du -sm "$dir/root" | cut -f1) MiB, $(wc -l <"$dir/packages") packages"
	# Older keys go, unless a host still runs on one (an overlay's lower dir).
	local old
	for old in "$base"/*/; do
		old=${old%/}
		[[ $old == "$dir" ]] && continue
		grep -qF "lowerdir=$old/root" /proc/mounts || rm -rf "$old"
	done
}

mkdir -p "$base"
# One build at a time: parallel tests start hosts at once.
exec 9>"$base.lock"
flock -w 1800 9 || die "cannot lock $base.lock"
if [[ -n ${LOAM_ARTIFACT_FORCE:-} || ! -f $dir/packages ]]; then
	build
else
	log "$deb_arch host root $key is up to date"
fi
echo "$dir/root"
