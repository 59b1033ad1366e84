#!/usr/bin/env bash
# Builds loam's artifact store (`make artifacts`) from Debian's archive only:
# edk2 firmware (OVMF, AAVMF), one guest image per arch (a FAT ESP holding a
# UKI of Debian's kernel + a busybox initramfs with scripts/artifacts/init,
# plus the kernel, initrd and cmdline for direct kernel boot), QEMU 7.2 and
# 10.0 unpacked side by side per host arch as the VMM and storage-daemon
# bundles (scripts/artifacts/qemu.sh), and the static agents.
#
#   build/artifacts/store/                the store loamd serves (read-only)
#   build/artifacts/store/manifest.json   what it holds, with sha256 and size
#   artifacts/manifest.json               the release manifest in the tree
#
# Debian packages are downloaded once into a cache that survives runs
# ($LOAM_ARTIFACT_CACHE, else /var/cache/loam/artifacts as root, else
# ~/.cache/loam/artifacts). Outputs are reproducible (SOURCE_DATE_EPOCH,
# sorted cpio, gzip -n, mkfs.fat --invariant, fixed mtools times) and skipped
# when their inputs did not change. See docs/artifacts.md for why the tree's
# manifest is regenerated from the store.
set -euo pipefail
start=$(date +%s%N)
root=$(cd "$(dirname "$0")/.." && pwd)
here=$root/scripts/artifacts
out=${LOAM_ARTIFACT_OUT:-$root/build/artifacts}
store=$out/store
work=$out/work
tree_manifest=$root/artifacts/manifest.json
if [[ -n ${LOAM_ARTIFACT_CACHE:-} ]]; then
	cache=$LOAM_ARTIFACT_CACHE
elif [[ $(id -u) -eq 0 ]]; then
	cache=/var/cache/loam/artifacts
else
	cache=${XDG_CACHE_HOME:-$HOME/.cache}/loam/artifacts
fi
read -r -a arches <<<"${LOAM_ARTIFACT_ARCHES:-x64 arm64}"
image_name=loam-tiny
image_rev=3 # bump when the init or the image layout changes
fw_name=edk2
SOURCE_DATE_EPOCH=$(jq -r '.source_date_epoch' "$tree_manifest")
export SOURCE_DATE_EPOCH
export TZ=UTC LC_ALL=C
mkdir -p "$cache/debs" "$cache/x" "$store" "$work"

log() { echo "artifacts: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# LOAM_ARTIFACT_FORCE=1 rebuilds everything (to check reproducibility).

# ---- Debian packages -------------------------------------------------------

apt_updated=0
apt_update_once() {
	[[ $apt_updated -eq 1 ]] && return
	apt_updated=1
	if [[ $(id -u) -eq 0 ]]; then
		log "refreshing the package lists"
		apt-get update -qq || true
	fi
}

candidate() { # pkg[:arch] -> candidate version or ""
	apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -v '(none)' || true
}

# apt-cache takes seconds here, so a version known to exist (downloaded
# before, or installed) is taken without asking it.
has_version() { # pkg[:arch] version
	local id="${1%%:*}_$2_"
	[[ $1 == *:* ]] && id+=${1#*:} || id+=$(dpkg --print-architecture)
	[[ -f $cache/debs/${id//:/%3a}.deb ]] && return 0
	[[ $(dpkg-query -W -f '${Version}' "$1" 2>/dev/null) == "$2" ]] && return 0
	apt-cache show "$1=$2" >/dev/null 2>&1
}

# The version pinned for an input in the tree's manifest, if the archive still
# has it, else the archive's candidate (and the manifest gets regenerated).
input_version() { # role deb_arch pkg
	local pinned
	pinned=$(jq -r --arg r "$1" --arg a "$2" --arg p "$3" \
		'.inputs[]? | select(.role==$r and .deb_arch==$a and .package==$p) | .version' \
		"$tree_manifest")
	if [[ -n $pinned ]] && has_version "$3:$2" "$pinned"; then
		echo "$pinned"
		return
	fi
	local c
	c=$(candidate "$3:$2")
	if [[ -z $c ]]; then
		apt_update_once
		c=$(candidate "$3:$2")
	fi
	[[ -n $c ]] || die "no version of $3:$2 in the archive (run apt-get update?)"
	[[ -n $pinned ]] && log "note: $3:$2 $pinned is gone from the archive; using $c"
	echo "$c"
}

# Package name of the current kernel: the pinned one if still downloadable,
# else what the linux-image-<arch> metapackage depends on.
kernel_package() { # deb_arch meta
	local pinned
	pinned=$(jq -r --arg a "$1" \
		'.inputs[]? | select(.role=="kernel" and .deb_arch==$a) | "\(.package)=\(.version)"' \
		"$tree_manifest")
	if [[ -n $pinned ]] && has_version "${pinned%%=*}:$1" "${pinned#*=}"; then
		echo "${pinned%%=*}"
		return
	fi
	apt-cache depends "$2:$1" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^:]*\).*/\1/p' |
		head -n 1
}

# Downloads pkg:arch=version into the cache once; prints the extracted dir.
fetch() { # pkg deb_arch version
	local id="$1_$3_$2" deb dir tmp
	id=${id//:/%3a}
	deb=$cache/debs/$id.deb
	dir=$cache/x/$id
	if [[ ! -f $deb ]]; then
		tmp=$(mktemp -d "$cache/debs/.dl.XXXXXX")
		log "downloading $1:$2 $3"
		if ! (cd "$tmp" && apt-get download -qq "$1:$2=$3" 2>/dev/null); then
			apt_update_once
			(cd "$tmp" && apt-get download -qq "$1:$2=$3" 2>/dev/null) ||
				{ rm -rf "$tmp"; die "apt-get download $1:$2=$3 failed"; }
		fi
		mv "$tmp"/*.deb "$deb"
		rm -rf "$tmp"
	fi
	# The cache is shared by every tree on the machine: unpack privately,
	# then rename; a concurrent build that won the race keeps its copy.
	if [[ ! -d $dir ]]; then
		tmp=$(mktemp -d "$cache/x/.unpack.XXXXXX")
		dpkg-deb -x "$deb" "$tmp"
		mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
	fi
	echo "$dir"
}

# ---- reproducible packing --------------------------------------------------

# Sorted entries, fixed owner and mtimes: the same files give the same bytes.
pack_tar() { # dir out.tar.gz
	tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
		--format=gnu -C "$1" -cf - . | gzip -n -6 >"$2.tmp"
	mv "$2.tmp" "$2"
}

pack_cpio() { # dir out.cpio.gz
	(cd "$1" && find . -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} + &&
		find . | sort | cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -n -9 >"$2"
}

# An input key: when it matches the one recorded with an output, the output
# is up to date and is not rebuilt.
key_of() { printf '%s\n' "$@" | sha256sum | cut -c1-64; }
# Keys and digest caches live in the work dir, never in the served store.
stamp_of() { echo "$work/stamps/${1#"$store"/}"; }
up_to_date() {
	[[ -z ${LOAM_ARTIFACT_FORCE:-} ]] || return 1
	local s
	s=$(stamp_of "$2").key
	[[ -f $2 && -f $s && $(cat "$s") == "$1" ]]
}
mark_built() { local s; s=$(stamp_of "$2").key; mkdir -p "${s%/*}"; echo "$1" >"$s"; }

# ---- initramfs and image ---------------------------------------------------

mod_depends() { # module file -> its depends, space separated
	local f=$1
	if [[ $f == *.xz ]]; then
		xz -dc "$f" | strings -a
	else
		strings -a "$f"
	fi | sed -n 's/^depends=//p' | head -n 1 | tr ',' ' '
}

# Copies the wanted modules and their dependencies into $2/lib/modules and
# writes their load order to $2/etc/loam/modules.
add_modules() { # kernel_tree initramfs_dir
	local -A file_of=() done_=()
	local f n order=()
	while IFS= read -r f; do
		n=$(basename "$f")
		n=${n%.xz}
		n=${n%.ko}
		file_of[${n//-/_}]=$f
	done < <(find "$1"/lib/modules -name '*.ko' -o -name '*.ko.xz')
	visit() {
		local m=${1//-/_} d
		[[ -n ${done_[$m]:-} ]] && return
		done_[$m]=1
		[[ -n ${file_of[$m]:-} ]] || return 0 # built in
		for d in $(mod_depends "${file_of[$m]}"); do visit "$d"; done
		order+=("$m")
	}
	local want=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
		virtio_mmio failover net_failover virtio_net virtio_blk virtio_console
		fat vfat nls_cp437 nls_ascii nls_utf8 isofs)
	for n in "${want[@]}"; do visit "$n"; done
	mkdir -p "$2/lib/modules" "$2/etc/loam"
	for n in "${order[@]}"; do
		f=${file_of[$n]}
		if [[ $f == *.xz ]]; then
			xz -dc "$f" >"$2/lib/modules/$n.ko"
		else
			cp "$f" "$2/lib/modules/$n.ko"
		fi
	done
	printf '%s\n' "${order[@]}" >"$2/etc/loam/modules"
}

build_initrd() { # kernel_tree busybox_tree console out [init]
	local d=$work/initrd.$$
	rm -rf "$d"
	mkdir -p "$d"/{bin,dev,proc,sys,tmp,mnt/seed,run,etc/loam}
	cp "$2/bin/busybox" "$d/bin/busybox"
	cp "${5:-$here/init}" "$d/init"
	chmod 0755 "$d/init" "$d/bin/busybox"
	echo "$3" >"$d/etc/loam/console"
	# The kernel opens /dev/console for init before devtmpfs is mounted.
	[[ $(id -u) -eq 0 ]] && mknod -m 0600 "$d/dev/console" c 5 1
	add_modules "$1" "$d"
	pack_cpio "$d" "$4"
	rm -rf "$d"
}

# Appends one executable file to an initramfs as a second archive (the
# kernel unpacks concatenated archives in order). The tiny image's network
# script goes in this way rather than through build_initrd, whose text is
# part of the debian-12 recipe key: editing it rebuilds both debian roots
# cold (13-24 min here, docs/images.md).
initrd_add() { # initrd.cpio.gz file path_inside
	local d=$work/initrd-add.$$
	rm -rf "$d"
	mkdir -p "$d/${3%/*}"
	install -m 0755 "$2" "$d/$3"
	pack_cpio "$d" "$d.cpio.gz"
	cat "$d.cpio.gz" >>"$1"
	rm -rf "$d" "$d.cpio.gz"
}

extract_vmlinux() { # bzImage out
	local off
	off=$(grep -obUaP '\xfd7zXZ\x00' "$1" | head -n 1 | cut -d: -f1)
	[[ -n $off ]] || die "no xz payload in $1"
	# xz stops at the end of its stream, so tail may die of SIGPIPE.
	{ tail -c +$((off + 1)) "$1" || true; } | xz -dc --single-stream >"$2"
	[[ $(head -c 4 "$2" | od -An -c | tr -d ' ') == 177ELF ]] || die "$2 is not an ELF file"
}

build_uki() { # stub kernel initrd cmdline out
	local osrel=$work/os-release.$$
	printf 'ID=loam\nNAME="loam guest"\nVERSION_ID=%s\n' "$image_rev" >"$osrel"
	"$OBJCOPY" \
		--add-section .osrel="$osrel" --change-section-vma .osrel=0x20000 \
		--add-section .cmdline="$4" --change-section-vma .cmdline=0x30000 \
		--add-section .linux="$2" --change-section-vma .linux="$UKI_LINUX_VMA" \
		--add-section .initrd="$3" --change-section-vma .initrd="$UKI_INITRD_VMA" \
		"$1" "$5"
	rm -f "$osrel"
	pe_fix_timestamp "$5"
}

# objcopy stamps PE files with the current time: pin TimeDateStamp to
# SOURCE_DATE_EPOCH and zero the (optional, unchecked by UEFI) CheckSum
# that covered it.
pe_fix_timestamp() { # file
	local pe
	pe=$(od -An -t u4 -j 60 -N 4 "$1" | tr -d ' ')
	# Little-endian 32-bit value as octal escapes, for printf %b.
	le32() { printf '\\0%03o\\0%03o\\0%03o\\0%03o' $(($1 & 255)) $(($1 >> 8 & 255)) \
		$(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
	printf '%b' "$(le32 "$SOURCE_DATE_EPOCH")" |
		dd of="$1" bs=1 seek=$((pe + 8)) conv=notrunc status=none
	printf '%b' "$(le32 0)" | dd of="$1" bs=1 seek=$((pe + 88)) conv=notrunc status=none
	[[ $(od -An -t u4 -j $((pe + 8)) -N 4 "$1" | tr -d ' ') == "$SOURCE_DATE_EPOCH" ]] ||
		die "could not pin the PE timestamp of $1"
}

# The ESP is the whole disk (a "superfloppy"): OVMF and AAVMF boot a FAT
# file system on a virtio disk with no partition table as removable media.
build_esp() { # uki out
	local kib=$(($(stat -c %s "$1") * 11 / 10240 + 8192)) t=$work/esp.$$
	kib=$(((kib + 1023) / 1024 * 1024))
	rm -rf "$2" "$t"
	mkdir -p "$t/EFI/BOOT"
	cp "$1" "$t/EFI/BOOT/$EFI_BOOT_FILE"
	# mmd stamps directories with the current time; mcopy -s -m copies the
	# tree with its (fixed) mtimes instead.
	find "$t" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	mkfs.fat --invariant -i 4c4f414d -n LOAM-ESP -C "$2" "$kib" >/dev/null
	MTOOLS_SKIP_CHECK=1 mcopy -s -m -i "$2" "$t/EFI" ::/
	rm -rf "$t"
}

build_image() { # arch -> sets image_version, image_tar
	local arch=$1 kpkg kver bver sver ktree btree stree key d
	kpkg=$(kernel_package "$DEB_ARCH" "$KERNEL_META")
	[[ -n $kpkg ]] || die "cannot find the kernel package for $DEB_ARCH"
	kver=$(input_version kernel "$DEB_ARCH" "$kpkg")
	bver=$(input_version busybox "$DEB_ARCH" busybox-static)
	sver=$(input_version stub "$DEB_ARCH" systemd-boot-efi)
	inputs+=("$(jq -nc --arg a "$DEB_ARCH" --arg p "$kpkg" --arg v "$kver" '{role:"kernel",deb_arch:$a,package:$p,version:$v}')"
		"$(jq -nc --arg a "$DEB_ARCH" --arg v "$bver" '{role:"busybox",deb_arch:$a,package:"busybox-static",version:$v}')"
		"$(jq -nc --arg a "$DEB_ARCH" --arg v "$sver" '{role:"stub",deb_arch:$a,package:"systemd-boot-efi",version:$v}')")
	image_version="$kver+loam$image_rev"
	d=$store/image/$image_name/$image_version/$arch
	image_tar=$d/$image_name.tar.gz
	key=$(key_of "$kpkg $kver $bver $sver $SOURCE_DATE_EPOCH" \
		"$(cat "$here/init" "$here/net" "$here/$arch.env" "$0" | sha256sum)")
	if up_to_date "$key" "$image_tar"; then
		log "$arch image $image_version is up to date"
		return
	fi
	log "building the $arch image $image_version"
	ktree=$(fetch "$kpkg" "$DEB_ARCH" "$kver")
	btree=$(fetch busybox-static "$DEB_ARCH" "$bver")
	stree=$(fetch systemd-boot-efi "$DEB_ARCH" "$sver")
	local b=$work/image-$arch
	rm -rf "$b"
	mkdir -p "$b/out"
	local kernels=("$ktree"/boot/vmlinuz-*)
	cp "${kernels[0]}" "$b/out/vmlinuz"
	printf 'console=%s panic=-1 quiet' "$CONSOLE" >"$b/out/cmdline"
	build_initrd "$ktree" "$btree" "$CONSOLE" "$b/out/initrd.img"
	initrd_add "$b/out/initrd.img" "$here/net" etc/loam/net
	[[ $SHIP_VMLINUX -eq 1 ]] && extract_vmlinux "$b/out/vmlinuz" "$b/out/vmlinux"
	build_uki "$stree/usr/lib/systemd/boot/efi/$EFI_STUB" "$b/out/vmlinuz" \
		"$b/out/initrd.img" "$b/out/cmdline" "$b/uki.efi"
	build_esp "$b/uki.efi" "$b/out/$image_name.$IMAGE_SUFFIX"
	rm -rf "$d"
	mkdir -p "$d"
	pack_tar "$b/out" "$image_tar"
	mark_built "$key" "$image_tar"
	rm -rf "$b"
}

build_firmware() { # arch -> sets fw_version, fw_tar
	local arch=$1 ftree key d
	fw_version=$(input_version firmware all "$FW_PKG")
	inputs+=("$(jq -nc --arg p "$FW_PKG" --arg v "$fw_version" '{role:"firmware",deb_arch:"all",package:$p,version:$v}')")
	d=$store/firmware/$fw_name/$fw_version/$arch
	fw_tar=$d/$fw_name.tar.gz
	key=$(key_of "$FW_PKG $fw_version $FW_CODE $FW_VARS $SOURCE_DATE_EPOCH" "$(sha256sum <"$0")")
	if up_to_date "$key" "$fw_tar"; then
		log "$arch firmware $fw_version is up to date"
		return
	fi
	log "packing the $arch firmware $fw_version"
	ftree=$(fetch "$FW_PKG" all "$fw_version")
	local b=$work/fw-$arch
	rm -rf "$b" "$d"
	mkdir -p "$b" "$d"
	cp -L "$ftree/$FW_DIR/$FW_CODE" "$ftree/$FW_DIR/$FW_VARS" "$b/"
	pack_tar "$b" "$fw_tar"
	mark_built "$key" "$fw_tar"
	rm -rf "$b"
}

# ---- manifest --------------------------------------------------------------

digest_of() { # file -> "sha256 size", cached next to it by mtime and size
	local f=$1 c stamp
	c=$(stamp_of "$f").digest
	mkdir -p "${c%/*}"
	stamp=$(stat -c '%Y %s' "$f")
	if [[ -f $c && $(sed -n 1p "$c") == "$stamp" ]]; then
		sed -n 2p "$c"
		return
	fi
	local sum
	sum=$(sha256sum "$f" | cut -c1-64)
	printf '%s\n%s %s\n' "$stamp" "$sum" "$(stat -c %s "$f")" >"$c"
	echo "$sum $(stat -c %s "$f")"
}

file_entry() { # component name version arch kind file
	local ds
	ds=$(digest_of "$6")
	jq -nc --arg c "$1" --arg n "$2" --arg v "$3" --arg a "$4" --arg k "$5" \
		--arg p "${6#"$store"/}" --arg s "${ds% *}" --argjson z "${ds#* }" \
		'{component:$c,name:$n,version:$v,arch:$a,kind:$k,path:$p,sha256:$s,size:$z}'
}

# The static agents are build outputs of this tree, not pinned inputs: the
# store carries them (for loamd to upload), the tree's manifest does not.
agent_entries() {
	local version arch f d
	version=$(sed -n 's/^project(loam VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
	for arch in "${arches[@]}"; do
		f=$root/build/dist/loam-host-$arch
		[[ -f $f ]] || { log "note: $f missing (run make); the store has no $arch agent"; continue; }
		d=$store/agent/loam-host/$version/$arch
		mkdir -p "$d"
		cmp -s "$f" "$d/loam-host" || install -m 0755 "$f" "$d/loam-host"
		file_entry agent loam-host "$version" "$arch" file "$d/loam-host"
	done
}

# The debian-12 guest image (build_debian_image); its roots build in the
# background meanwhile. Its manifest entry says how long loam waits for its
# readiness line: under TCG on a loaded 2-core host a boot took 370-560 s
# (docs/images.md); loam-tiny's entries leave it to loam's default.
debian_boot_timeout_s=1800
# shellcheck source=scripts/artifacts/debian-image.sh
source "$here/debian-image.sh"
debian_start_roots "${arches[@]}"

entries=()
inputs=()
for arch in "${arches[@]}"; do
	# shellcheck source=scripts/artifacts/x64.env
	source "$here/$arch.env"
	build_firmware "$arch"
	entries+=("$(file_entry firmware "$fw_name" "$fw_version" "$arch" tarball "$fw_tar")")
	build_image "$arch"
	entries+=("$(file_entry image "$image_name" "$image_version" "$arch" tarball "$image_tar")")
	build_debian_image "$arch"
	entries+=("$(file_entry image "$debian_name" "$debian_version" "$arch" file "$debian_img" |
		jq -c --argjson t "$debian_boot_timeout_s" '. + {boot_timeout_s: $t}')")
done
# QEMU 7.2 and 10.0 side by side, per host arch (scripts/artifacts/qemu.sh):
# the VMM and the storage daemon hosts install (docs/artifacts.md).
# shellcheck source=scripts/artifacts/qemu.sh
source "$here/qemu.sh"
qemu_bundles
mapfile -t agents < <(agent_entries)

release=$(printf '%s\n' "${entries[@]}" | jq -s \
	--argjson sde "$SOURCE_DATE_EPOCH" \
	--argjson inputs "$(printf '%s\n' "${inputs[@]}" | jq -s 'unique_by([.role,.deb_arch,.package])')" \
	'{format:1, source_date_epoch:$sde, inputs:$inputs, entries:.}')
agents_json=$(printf '%s\n' "${agents[@]}" | jq -s '[.[] | select(. != null)]')
jq --argjson a "$agents_json" '. + {agents:$a}' <<<"$release" >"$store/manifest.json.tmp"
mv "$store/manifest.json.tmp" "$store/manifest.json"
# A partial build (LOAM_ARTIFACT_ARCHES) never rewrites the release manifest.
if [[ -z ${LOAM_ARTIFACT_ARCHES:-} ]] && ! jq -S . <<<"$release" | cmp -s - <(jq -S . "$tree_manifest"); then
	jq . <<<"$release" >"$tree_manifest"
	log "artifacts/manifest.json was regenerated from this build; review and commit it"
fi
log "store: $store ($(du -sh "$store" | cut -f1))"
ms=$((($(date +%s%N) - start) / 1000000))
printf 'artifacts: built in %d.%01d s\n' $((ms / 1000)) $((ms % 1000 / 100))
