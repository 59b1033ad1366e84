# shellcheck shell=bash
# The "arm64-debian" SSH test host, sourced by tests/hosts/ssh-hosts.sh: a
# Debian 12 arm64 server userland (scripts/artifacts/debian-host.sh, built
# once into the artifact cache) whose own arm64 sshd runs under qemu-user,
# chrooted into a per-host overlay of that tree, on a loopback port. Every
# binary there is arm64, sshd included; `uname -m` says aarch64.
#
# Layout, per host (LOAM_HOSTS_CHROOT_BASE/arm64d.XXXXXX, DIR the test's):
#   upper/ work/   the overlay's writable part (the cached tree stays as is)
#   root/          the overlay: the host's /, with /proc /sys /dev bound
#                  read-only and DIR bound at its own path, so that sshd's
#                  config, keys, pid file and log have the same path inside
#                  and out (ssh-hosts.sh's checks work unchanged)
# It is not part of `start DIR all`: its first start builds the tree.

_lh_debian_tree() {
	local src
	src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	"$src/scripts/artifacts/debian-host.sh"
}

_lh_start_arm64_debian() {
	local d=$1 tree
	tree=$(_lh_debian_tree) || { _lh_log "arm64-debian: cannot build its root"; return 1; }
	_lh_locked _lh_binfmt || return 1
	mkdir -p "$LOAM_HOSTS_CHROOT_BASE" "$d/arm64_debian"
	chmod 0755 "$LOAM_HOSTS_CHROOT_BASE"
	_lh_locked _lh_start_arm64_debian_locked "$d" "$tree"
}

_lh_start_arm64_debian_locked() {
	local d=$1 tree=$2 base r
	_lh_reap_orphans "$d" arm64d arm64_debian _lh_remove_debian_base
	if [[ -s $d/arm64_debian/base ]]; then
		base=$(<"$d/arm64_debian/base")
	else
		base=$(mktemp -d "$LOAM_HOSTS_CHROOT_BASE/arm64d.XXXXXX")
		echo "$d" >"$base.owner"
		echo "$base" >"$d/arm64_debian/base"
		mkdir -p "$base/upper" "$base/work" "$base/root"
	fi
	r=$base/root
	mountpoint -q "$r" ||
		mount -t overlay overlay -o "lowerdir=$tree,upperdir=$base/upper,workdir=$base/work" "$r" ||
		return 1
	_lh_mount_root "$r" || return 1
	mkdir -p "$r$d" "$r/run/sshd"
	mountpoint -q "$r$d" || mount --bind "$d" "$r$d" || return 1
	echo "$r" >"$d/arm64_debian/run_root"
	_lh_start_sshd arm64_debian "$d"
}

_lh_stop_arm64_debian() { # DIR
	local d=$1
	_lh_stop_sshd arm64_debian "$d"
	if [[ -s $d/arm64_debian/base ]]; then
		_lh_remove_debian_base "$(<"$d/arm64_debian/base")" && rm -f "$d/arm64_debian/base"
	fi
	rm -f "$d/arm64_debian/run_root"
	return 0
}

# Unmounts (innermost first) and removes one host's overlay.
_lh_remove_debian_base() { # base
	local base=$1 r=$1/root m
	[[ -n $base && -d $base ]] || return 0
	while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m"
	done < <(awk -v r="$r" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts | sort -r)
	if awk -v r="$r" '$2 == r || index($2, r "/") == 1 { f = 1 } END { exit !f }' /proc/mounts; then
		_lh_log "$r is still mounted; leaving $base in place"
		return 1
	fi
	rm -rf --one-file-system "$base"
	rm -f "$base.owner"
}

