# shellcheck shell=bash
# Builds a Debian 12 (bookworm) root file system with mmdebstrap, from
# Debian's archive only. Sourced by scripts/artifacts/debian-image.sh (the
# debian-12 guest image); other roots (a Debian test host) can share the
# recipe and the download cache through debian_root.
#
# A foreign-arch root runs its maintainer scripts under qemu-user (binfmt),
# where each new process pays its own translation: a stock arm64 build took
# 9-17 min here. So (scripts/artifacts/debian-hooks.sh):
#   - dpkg itself is this machine's, run with --root: unpacking, the
#     decompression and the database work are native, and dpkg still runs
#     every maintainer script chrooted into the root (arm64 ones emulated).
#     mmdebstrap's "extract" variant fetches and unpacks the Essential set;
#     the hooks install it and then the rest through apt, as its minbase
#     variant would (the same packages and files, checked by a diff of the
#     trees);
#   - what costs most in those scripts is deferred and redone once,
#     natively where the result is the same bytes (byte-compiling, the CA
#     bundle), or skipped because it is thrown away (host keys, the
#     initramfs);
#   - documentation, man pages and translations are never unpacked.
#
# Needs from its caller: log, die (and SOURCE_DATE_EPOCH exported).

debian_hooks=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/debian-hooks.sh
debian_sources=(
	"deb http://deb.debian.org/debian bookworm main"
	"deb http://deb.debian.org/debian bookworm-updates main"
	"deb http://deb.debian.org/debian-security bookworm-security main")
# dpkg path filters: they stay in the root (/etc/dpkg/dpkg.cfg.d/99mmdebstrap)
# so that packages installed later in the guest skip the same files.
debian_dpkgopts=('path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/doc/*'
	'path-exclude=/usr/share/info/*' 'path-exclude=/usr/share/locale/*'
	'path-exclude=/usr/share/lintian/*' 'path-exclude=/usr/share/linda/*'
	'path-exclude=/usr/share/groff/*'
	# Licences stay (what a distribution must carry), and locale.alias.
	'path-include=/usr/share/doc/*/copyright' 'path-include=/usr/share/locale/locale.alias')

# Now, in microseconds (no fork: the progress filter calls it per line).
debian_now() { echo "${EPOCHREALTIME/./}"; }

# Seconds since $1 (a debian_now value), with one decimal.
debian_elapsed() {
	local ds=$(((${EPOCHREALTIME/./} - $1) / 100000))
	printf '%d.%d' $((ds / 10)) $((ds % 10))
}

# Runs "$@" as one timed step of a build: "artifacts: <label> ... N.N s".
debian_step() { # label cmd...
	local label=$1 t
	shift
	t=$(debian_now)
	log "$label"
	"$@" || return
	log "$label: done in $(debian_elapsed "$t") s"
}

# mmdebstrap's and the hooks' steps, each with the time since it started;
# the whole output goes, timed the same way, to a log that a failure quotes.
debian_progress() { # label log start
	local line at ds
	while IFS= read -r line; do
		ds=$(((${EPOCHREALTIME/./} - $3) / 100000))
		at=$((ds / 10)).$((ds % 10))
		echo "+$at $line" >>"$2"
		[[ $line == "I: "* ]] && log "$1: +$at s ${line#I: }"
	done
	return 0
}

# debian_root DEB_ARCH OUT_DIR DEB_CACHE LOG PKG[,PKG...] [CUSTOMIZE_CMD]
# Builds the root into OUT_DIR (which must not exist). DEB_CACHE keeps the
# downloaded .debs across runs. CUSTOMIZE_CMD (a shell command, run with the
# root as $1 while the chroot is still set up) adds what the caller needs.
debian_root() {
	local deb_arch=$1 out=$2 debs=$3 logf=$4 pkgs=$5 customize=${6:-} t opts=() p
	mkdir -p "$debs"
	: >"$logf"
	for p in "${debian_dpkgopts[@]}"; do opts+=(--dpkgopt="$p"); done
	[[ -n $customize ]] && opts+=(--extract-hook="$customize")
	t=$(debian_now)
	# Downloads are cached: apt's archive dir is filled from DEB_CACHE before
	# the download and copied back after the install (mmdebstrap's recipe).
	# /usr is merged the way debootstrap does it (mmdebstrap's merged-usr
	# setup hook), so usrmerge's conversion never runs. Debian's own tools
	# only: mmdebstrap runs python3 per .deb it filters, and a python3
	# earlier in PATH (a pyenv shim) costs seconds each.
	if ! PATH=/usr/sbin:/usr/bin:/sbin:/bin mmdebstrap --verbose --variant=extract \
		--include='?essential' --architectures="$deb_arch" \
		--setup-hook=/usr/share/mmdebstrap/hooks/merged-usr/setup00.sh \
		--aptopt='Acquire::Languages "none"' --skip=download/empty --skip=essential/unlink \
		--setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
		--setup-hook="sync-in $debs /var/cache/apt/archives/" \
		--extract-hook="$debian_hooks install \"\$1\" $pkgs" \
		--extract-hook="sync-out /var/cache/apt/archives $debs" \
		--extract-hook="$debian_hooks finish \"\$1\"" "${opts[@]}" \
		bookworm "$out" "${debian_sources[@]}" 2>&1 |
		debian_progress "$deb_arch root" "$logf" "$t"; then
		tail -n 40 "$logf" >&2
		debian_discard "$out"
		die "mmdebstrap of the $deb_arch root failed (log: $logf)"
	fi
}

# Removes a root, first unmounting whatever a killed build left mounted in
# it (mmdebstrap mounts /proc, /sys and /dev there while it runs).
debian_discard() { # root
	local m
	[[ -n $1 && -e $1 ]] || return 0
	while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m"
	done < <(awk -v r="$1" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts | sort -r)
	rm -rf --one-file-system "$1"
}

# The root's packages, one "name:arch version" a line, sorted: what pins it.
debian_packages() { # root
	dpkg-query --admindir="$1/var/lib/dpkg" -W -f '${Package}:${Architecture} ${Version}\n' |
		LC_ALL=C sort
}
