#!/usr/bin/env bash
# mmdebstrap extract hooks of scripts/artifacts/debian-root.sh, run on the
# host with the root being built as $2 (mmdebstrap has mounted /proc, /sys
# and /dev in it and disabled daemon starts):
#
#   debian-hooks.sh install ROOT PKG[,PKG...]
#       installs the Essential set mmdebstrap extracted
#       ($MMDEBSTRAP_ESSENTIAL), then turns the tools that are slow under
#       qemu-user (or useless for an image) into no-ops, then installs
#       PKG... and the Priority: required packages through apt: what
#       mmdebstrap's minbase variant does, but with this machine's dpkg
#       (--root: native unpacking, scripts still chrooted)
#   debian-hooks.sh finish ROOT
#       undoes the no-ops and redoes their work once, natively where the
#       result is the same bytes
#
# Measured on the arm64 root under qemu-user (2 cores, shared): unpacking
# with the root's own dpkg cost ~1 s per package; byte-compiling ~20 s per
# python3-* package (~450 s); the CA store ~300 s (two runs of a script
# that forks per certificate); locales' postinst ~120 s (one grep per
# supported locale, to list them all commented out in /etc/locale.gen:
# with the list diverted it writes the header only, and `dpkg-reconfigure
# locales` lists them when someone wants one); host key generation ~55 s;
# hwdb twice ~30 s. A package's own files are untouched: only diversions
# (dpkg-divert, recorded in the dpkg database) stand in for these while
# the packages are configured.
set -euo pipefail
root=${2:?usage: debian-hooks.sh install|finish ROOT ...}

# Tools replaced by a no-op while the packages are configured; all but
# update-initramfs come back in `finish`. The image boots a UKI whose
# initramfs is built natively (debian-image.sh), so update-initramfs stays
# diverted in the image: a mkinitramfs run there would only cost time.
deferred=(/usr/bin/py3compile /usr/lib/python3.11/py_compile.py
	/usr/sbin/update-ca-certificates /bin/systemd-hwdb /usr/share/i18n/SUPPORTED)
kept=(/usr/sbin/update-initramfs)

divert() { # path
	chroot "$root" dpkg-divert --quiet --local --rename --add "$1"
	mkdir -p "$root${1%/*}"
	if [[ $1 == *.py ]]; then
		printf '# loam build: byte-compiling is deferred (scripts/artifacts/debian-hooks.sh)\n' >"$root$1"
	elif [[ $1 == */SUPPORTED ]]; then
		: >"$root$1" # see the comment on locales in the header
	else
		printf '#!/bin/sh\n# loam build: %s is deferred or not used (scripts/artifacts/debian-hooks.sh)\nexit 0\n' \
			"${1##*/}" >"$root$1"
		chmod 0755 "$root$1"
	fi
}

undivert() { # path
	rm -f "$root$1"
	chroot "$root" dpkg-divert --quiet --local --rename --remove "$1"
}

# This machine's dpkg on the root: --force-architecture because its own
# architecture (amd64) is not the root's, --force-depends because it then
# cannot see that an arm64 package satisfies an Architecture: all one's
# dependency (apt has resolved them, for the root's architecture). The
# root's path filters (mmdebstrap's --dpkgopt file) apply as they would to
# its own dpkg.
native_dpkg() {
	local opts=() line
	while IFS= read -r line; do
		[[ $line == path-* ]] && opts+=("--$line")
	done <"$root/etc/dpkg/dpkg.cfg.d/99mmdebstrap"
	dpkg_args=(--root="$root" --log="$root/var/log/dpkg.log" --force-architecture
		--force-depends --force-unsafe-io "${opts[@]}")
}

install_root() { # pkgs
	local p debs=() apt_opts=()
	native_dpkg
	# Like mmdebstrap's essential step: all at once, --force-depends because
	# dpkg does not order by Pre-Depends.
	for p in ${MMDEBSTRAP_ESSENTIAL:?}; do debs+=("$root/${p#/}"); done
	env -u TMPDIR -u APT_CONFIG dpkg "${dpkg_args[@]}" --install "${debs[@]}"
	for p in "${deferred[@]}" "${kept[@]}"; do divert "$p"; done
	# openssh-server's postinst creates host keys unless they exist: the
	# image must not carry any (each VM makes its own), so placeholders.
	mkdir -p "$root/etc/ssh"
	for p in rsa ecdsa ed25519; do : >"$root/etc/ssh/ssh_host_${p}_key"; done
	# No locale is generated (C.UTF-8 is built into glibc), tzdata is UTC,
	# man-db (if pulled in) never indexes.
	chroot "$root" debconf-set-selections <<-'EOF'
		locales locales/locales_to_be_generated multiselect
		locales locales/default_environment_locale select None
		tzdata tzdata/Areas select Etc
		tzdata tzdata/Zones/Etc select UTC
		man-db man-db/auto-update boolean false
	EOF
	for p in "${dpkg_args[@]}"; do apt_opts+=("-oDPkg::Options::=$p"); done
	# The rest, as mmdebstrap's minbase variant installs it: the packages
	# asked for, Priority: required, and the real usr-is-merged in place of
	# the merged-usr hook's stand-in.
	local arch
	arch=$(chroot "$root" dpkg --print-architecture)
	env -u TMPDIR APT_CONFIG="${MMDEBSTRAP_APT_CONFIG:?}" apt-get --yes -oDpkg::Use-Pty=false \
		-oDir::Bin::dpkg=/usr/bin/dpkg "${apt_opts[@]}" install ${1//,/ } usr-is-merged \
		"?narrow(?or(?archive(^bookworm\$),?codename(^bookworm\$)),?architecture($arch),?and(?priority(required),?not(?essential)))"
}

# Same interpreter version on both sides (bookworm's 3.11): the .pyc files
# are the same bytes as the root's python would write. SOURCE_DATE_EPOCH
# makes them checked-hash pycs, which hold no timestamps.
compile_python() {
	local dirs=() d
	for d in /usr/lib/python3.11 /usr/lib/python3/dist-packages /usr/share/python3; do
		[[ -d $root$d ]] && dirs+=("$root$d")
	done
	[[ ${#dirs[@]} -gt 0 ]] || return 0
	if [[ -x /usr/bin/python3.11 && -x $root/usr/bin/python3.11 ]]; then
		/usr/bin/python3.11 -m compileall -q -j 0 -s "$root" -p / "${dirs[@]}" >/dev/null
	else
		chroot "$root" python3 -m compileall -q "${dirs[@]#"$root"}" >/dev/null
	fi
}

# The root's own update-ca-certificates, run natively on it (--sysroot);
# its links then name the host path of the root, so they are made
# absolute in the root's terms again. Hooks would run natively: there are
# none in these roots, and if one appears it runs under emulation instead.
ca_certificates() {
	[[ -x $root/usr/sbin/update-ca-certificates ]] || return 0
	if [[ -n $(ls -A "$root/etc/ca-certificates/update.d" 2>/dev/null) ]]; then
		chroot "$root" update-ca-certificates >/dev/null
		return
	fi
	sh "$root/usr/sbin/update-ca-certificates" --sysroot "$root" >/dev/null
	local link target
	while IFS= read -r -d '' link; do
		target=$(readlink "$link")
		[[ $target == "$root"/* ]] && ln -sfn "${target#"$root"}" "$link"
	done < <(find "$root/etc/ssl/certs" -type l -print0)
}

finish() {
	local p
	for p in "${deferred[@]}"; do undivert "$p"; done
	rm -f "$root"/etc/ssh/ssh_host_*_key
	compile_python
	ca_certificates
	[[ -x $root/usr/bin/systemd-hwdb ]] && chroot "$root" systemd-hwdb --usr update
	return 0
}

case ${1:-} in
install) install_root "${3:?usage: debian-hooks.sh install ROOT PKG[,PKG...]}" ;;
finish) finish ;;
*)
	echo "usage: $0 install ROOT PKG[,PKG...] | finish ROOT" >&2
	exit 2
	;;
esac
