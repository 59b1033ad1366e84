# shellcheck shell=bash disable=SC2154 # here root store work cache: build-artifacts.sh sets them
# The debian-12 guest image of one arch, a store entry of kind "file":
#   image/debian-12/<version>/<arch>/debian-12.<arch>.qcow2
# a compressed qcow2 of a GPT disk: an ESP holding a UKI (Debian's cloud
# kernel + a natively built busybox initramfs, scripts/artifacts/debian-12/
# init) at the removable-media path, and an ext4 root (mmdebstrap,
# scripts/artifacts/debian-root.sh) labelled loam-root, made without loop
# devices or mounts (mkfs.ext4 -d, mkfs.fat + mtools, sfdisk on a file,
# dd conv=notrunc). See docs/artifacts.md, "debian-12".
#
# Sourced by scripts/build-artifacts.sh, whose helpers it uses (log, die,
# input_version, fetch, build_initrd, build_uki, build_esp, key_of,
# up_to_date, mark_built) and whose per-arch recipe (<arch>.env) is loaded.
# The root's package list is pinned in artifacts/debian-12/<arch>.packages:
# the image's version is derived from it and from the recipe, so a warm
# build never asks the archive anything.

# shellcheck source=scripts/artifacts/debian-root.sh
source "$here/debian-root.sh"

debian_name=debian-12
debian_dir=$here/debian-12
debian_label=loam-root
# Fixed identities, so that the same inputs give the same bytes. Every VM
# made from the image shares them, as VMs made from any cloud image do.
debian_disk_guid=0051fe70-db54-493d-979a-213bfb62758e
debian_esp_partuuid=ca269362-160a-4a87-96da-936f18cf63f4
debian_root_partuuid=08cee67b-85d5-4144-8645-cc93d0e84a0b
debian_fs_uuid=c4da931a-f844-4497-a259-827df07b0c8b
debian_hash_seed=6d869a04-8f4c-420d-9f7c-31d915c75ce2
debian_esp_type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
# A cloud guest: systemd, sshd, cloud-init and what it drives (growpart and
# resize2fs to fill the disk, networkd for network-config), sudo.
debian_pkgs=systemd-sysv,udev,dbus,openssh-server,cloud-init,cloud-guest-utils,e2fsprogs,fdisk,sudo,iproute2,systemd-resolved

# What the image is made of besides its packages: these files, the helpers
# of build-artifacts.sh it calls, the arch's recipe and the small inputs.
debian_recipe() { # busybox_version stub_version
	{
		find "$debian_dir" "$here"/debian-{image,root,hooks}.sh -type f -print0 | LC_ALL=C sort -z |
			xargs -0 cat
		declare -f build_initrd add_modules mod_depends pack_cpio build_uki pe_fix_timestamp build_esp
		declare -p DEB_ARCH CONSOLE EFI_BOOT_FILE OBJCOPY EFI_STUB UKI_LINUX_VMA UKI_INITRD_VMA \
			DEBIAN_KERNEL_PKG DEBIAN_ROOT_TYPE
		echo "$1 $2 $SOURCE_DATE_EPOCH"
	} | sha256sum | cut -c1-64
}

# Sets debian_version and debian_img from a package list and the recipe:
# <Debian point release>+<8 hex of both>, e.g. 12.12+1f2e3d4c.
debian_locate() { # arch packages_file recipe
	local point
	point=$(sed -n 's/^base-files:[a-z0-9]* 12\.[0-9]*+deb12u\([0-9]*\)$/12.\1/p' "$2")
	[[ -n $point ]] || point=12
	debian_version=$point+$(cat "$2" - <<<"$3" | sha256sum | cut -c1-8)
	debian_img=$store/image/$debian_name/$debian_version/$1/$debian_name.$1.qcow2
}

# Per-VM state out: host keys, machine-id (empty: systemd makes one on first
# boot), cloud-init's instance state, logs, package lists and caches.
debian_clean() { # root
	local r=$1
	rm -f "$r"/etc/ssh/ssh_host_*
	: >"$r/etc/machine-id"
	rm -f "$r/var/lib/dbus/machine-id"
	ln -s /etc/machine-id "$r/var/lib/dbus/machine-id"
	rm -rf "$r"/var/lib/cloud/* "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin \
		"$r"/var/cache/apt/archives/*.deb "$r"/tmp/* "$r"/var/tmp/* "$r"/root/.bash_history
	rm -f "$r"/var/cache/debconf/*-old "$r"/var/lib/dpkg/*-old "$r/var/cache/ldconfig/aux-cache" \
		"$r/var/lib/systemd/random-seed" "$r/var/lib/systemd/credential.secret" "$r"/var/lib/dhcp/*.leases
	find "$r/var/log" -type f -delete
}

# ext4 root from the tree. mke2fs -d sorts each directory; what it copies
# from the tree's inodes that a tree cannot fix (atime, ctime) is reset
# afterwards, and E2FSPROGS_FAKE_TIME pins the file system's own times.
debian_rootfs() { # tree out
	local bytes mib
	find "$1" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	bytes=$(find "$1" \( -type f -printf '%s\n' \) -o -printf '4096\n' |
		awk '{ s += int(($1 + 4095) / 4096) * 4096 } END { print s }')
	# Room for the journal and metadata; the guest grows it to its disk.
	mib=$(((bytes * 11 / 10 / 1048576 + 256 + 63) / 64 * 64))
	rm -f "$2"
	truncate -s "${mib}M" "$2"
	E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH mkfs.ext4 -q -F -T default -b 4096 -L "$debian_label" \
		-U "$debian_fs_uuid" -E "hash_seed=$debian_hash_seed,root_owner=0:0" -d "$1" "$2" "${mib}M"
	debian_fix_times "$2"
}

# Sets atime and ctime of every inode in use to SOURCE_DATE_EPOCH (the
# inode bitmap, as dumpe2fs prints each group's free ranges, says which).
debian_fix_times() { # ext4 image
	dumpe2fs "$1" 2>/dev/null | awk -v t="@$SOURCE_DATE_EPOCH" '
		/^Inodes per group:/ { ipg = $4 }
		/^Group [0-9]+:/ { g = $2 + 0 }
		/^ +Free inodes: / {
			delete free
			sub(/^ +Free inodes: */, "")
			n = split($0, r, /, */)
			for (i = 1; i <= n; i++) {
				if (r[i] == "") continue
				split(r[i], ab, "-")
				hi = (ab[2] == "") ? ab[1] : ab[2]
				for (j = ab[1]; j <= hi; j++) free[j] = 1
			}
			for (j = g * ipg + 1; j <= (g + 1) * ipg; j++)
				if (!(j in free)) printf "sif <%d> atime %s\nsif <%d> ctime %s\n", j, t, j, t
		}' >"$1.times"
	E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH debugfs -w -f "$1.times" "$1" >/dev/null 2>&1
	rm -f "$1.times"
}

# GPT disk: the ESP from 1 MiB, the root after it, 1 MiB spare at the end
# for the backup table (growpart moves it to the end of the VM's disk).
debian_disk() { # esp rootfs out
	local esp=$(($(stat -c %s "$1") / 512)) rootfs=$(($(stat -c %s "$2") / 512)) at
	at=$((2048 + esp))
	rm -f "$3"
	truncate -s $(((at + rootfs + 2048) * 512)) "$3"
	sfdisk --quiet --no-reread --no-tell-kernel "$3" <<-EOF
		label: gpt
		label-id: $debian_disk_guid
		unit: sectors
		first-lba: 2048
		start=2048, size=$esp, type=$debian_esp_type, uuid=$debian_esp_partuuid, name="esp"
		start=$at, size=$rootfs, type=$DEBIAN_ROOT_TYPE, uuid=$debian_root_partuuid, name="root"
	EOF
	dd if="$1" of="$3" bs=512 seek=2048 conv=notrunc,sparse status=none
	dd if="$2" of="$3" bs=1M seek=$((at / 2048)) conv=notrunc,sparse status=none
}

# UKI on an ESP: kernel and modules from the root itself, so they match.
debian_boot() { # root busybox_tree stub_tree out_esp
	local r=$1 b=${4%/*} kernels
	kernels=("$r"/boot/vmlinuz-*)
	[[ ${#kernels[@]} -eq 1 && -f ${kernels[0]} ]] || die "expected one kernel in $r/boot"
	build_initrd "$r" "$2" "$CONSOLE" "$b/initrd.img" "$debian_dir/init"
	printf 'root=LABEL=%s ro console=%s panic=-1 quiet' "$debian_label" "$CONSOLE" >"$b/cmdline"
	build_uki "$3/usr/lib/systemd/boot/efi/$EFI_STUB" "${kernels[0]}" "$b/initrd.img" \
		"$b/cmdline" "$b/uki.efi"
	build_esp "$b/uki.efi" "$4"
}

# The distributed form: qcow2 with zstd-compressed clusters (a VM's disk is
# a thin qcow2 overlay of it, of any virtual size).
debian_qcow2() { # raw out
	mkdir -p "${2%/*}"
	qemu-img convert -q -f raw -O qcow2 -c -o compression_type=zstd "$1" "$2.tmp"
	mv "$2.tmp" "$2"
}

# The small inputs of the image of the arch whose recipe is loaded:
# busybox and the UKI stub (debian_bver, debian_sver: the versions the
# tiny image pins too, so the manifest's inputs already list them), and
# the recipe's key (debian_recipe_key). Computed once per arch.
declare -A debian_known=()
debian_inputs() {
	if [[ -z ${debian_known[$DEB_ARCH]:-} ]]; then
		local b s
		b=$(input_version busybox "$DEB_ARCH" busybox-static)
		s=$(input_version stub "$DEB_ARCH" systemd-boot-efi)
		debian_known[$DEB_ARCH]="$b $s $(debian_recipe "$b" "$s")"
	fi
	read -r debian_bver debian_sver debian_recipe_key <<<"${debian_known[$DEB_ARCH]}"
}

# Is the arch's image, as its pins and recipe say it should be, in the
# store already, or in the cache (restored to the store)? Sets
# debian_version and debian_img.
debian_current() { # arch
	local pins=$root/artifacts/$debian_name/$1.packages
	[[ -f $pins ]] || return 1
	debian_locate "$1" "$pins" "$debian_recipe_key"
	up_to_date "$(key_of "$debian_version")" "$debian_img" || debian_restore "$1"
}

# Built images are kept in the artifact cache too (one version per arch),
# which outlives the build tree: a fresh checkout on the same machine takes
# them from there instead of building the roots again (minutes under
# emulation). The version names the pins and the recipe, and the copy's
# sha256 is checked before it is used.
debian_cached() { echo "$cache/debian/images/$debian_version/$1"; }
debian_restore() { # arch
	local c
	c=$(debian_cached "$1")
	[[ -f $c/$debian_name.$1.qcow2 && -f $c/sha256 ]] || return 1
	[[ $(sha256sum <"$c/$debian_name.$1.qcow2" | cut -c1-64) == "$(cat "$c/sha256")" ]] || {
		log "$1 $debian_name $debian_version: the cached copy is damaged; building it again"
		rm -rf "$c"
		return 1
	}
	rm -rf "$store/image/$debian_name"/*/"$1"
	mkdir -p "${debian_img%/*}"
	cp "$c/$debian_name.$1.qcow2" "$debian_img"
	mark_built "$(key_of "$debian_version")" "$debian_img"
	log "$1 $debian_name $debian_version: taken from the cache ($c)"
}
debian_save() { # arch
	local c d
	c=$(debian_cached "$1")
	for d in "$cache/debian/images"/*/"$1"; do [[ -d $d && $d != "$c" ]] && rm -rf "$d"; done
	mkdir -p "$c"
	cp "$debian_img" "$c/.copy"
	sha256sum <"$c/.copy" | cut -c1-64 >"$c/sha256"
	mv "$c/.copy" "$c/$debian_name.$1.qcow2"
}

# Starts the root builds of every arch whose image is not up to date, all
# at once and in the background: the arm64 one, bound by emulation, keeps
# one core busy for minutes, and the others overlap it.
declare -A debian_jobs=()
debian_start_roots() { # arch...
	local arch b
	for arch in "$@"; do
		# shellcheck source=scripts/artifacts/x64.env
		source "$here/$arch.env"
		debian_inputs
		debian_current "$arch" && continue
		b=$work/$debian_name-$arch
		debian_discard "$b"
		mkdir -p "$b/tree"
		debian_step "$arch $debian_name: root (mmdebstrap, in the background)" debian_root \
			"$DEB_ARCH" "$b/tree/root" "$cache/debian/debs/$DEB_ARCH" "$work/$debian_name-$arch.log" \
			"$debian_pkgs,$DEBIAN_KERNEL_PKG" "$debian_dir/customize.sh \"\$1\" $debian_label" &
		debian_jobs[$arch]=$!
	done
}

# If the build stops early (an error elsewhere), the root builds still
# running stop too (mmdebstrap unmounts what it mounted on SIGTERM; a
# later build discards what is left).
debian_stop_roots() {
	local p
	for p in "${debian_jobs[@]}"; do debian_kill_tree "$p"; done
	wait
}
debian_kill_tree() { # pid: its descendants first
	local c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do debian_kill_tree "$c"; done
	kill -TERM "$1" 2>/dev/null || true
}
trap debian_stop_roots EXIT

# Builds (or finds up to date) the image of one arch, from the root that
# debian_start_roots started; sets debian_version and debian_img.
build_debian_image() { # arch
	local arch=$1 pins=$root/artifacts/$debian_name/$1.packages b=$work/$debian_name-$1 t
	debian_inputs
	if [[ -z ${debian_jobs[$arch]:-} ]]; then
		debian_current "$arch" || die "$arch $debian_name is not up to date and no root build was started"
		log "$arch $debian_name $debian_version is up to date"
		debian_input "$arch" "$pins"
		return
	fi
	t=$(debian_now)
	wait "${debian_jobs[$arch]}" || die "the $arch $debian_name root build failed"
	unset "debian_jobs[$arch]"
	debian_clean "$b/tree/root"
	debian_packages "$b/tree/root" >"$b/packages"
	debian_locate "$arch" "$b/packages" "$debian_recipe_key"
	log "$arch $debian_name: version $debian_version ($(wc -l <"$b/packages") packages)"
	debian_step "$arch $debian_name: UKI and ESP" debian_boot "$b/tree/root" \
		"$(fetch busybox-static "$DEB_ARCH" "$debian_bver")" \
		"$(fetch systemd-boot-efi "$DEB_ARCH" "$debian_sver")" "$b/esp.img"
	debian_step "$arch $debian_name: ext4 root" debian_rootfs "$b/tree/root" "$b/root.ext4"
	debian_discard "$b/tree"
	debian_step "$arch $debian_name: GPT disk" debian_disk "$b/esp.img" "$b/root.ext4" "$b/disk.raw"
	# The store holds one version of the image per arch: the current one.
	rm -rf "$store/image/$debian_name"/*/"$arch"
	debian_step "$arch $debian_name: qcow2" debian_qcow2 "$b/disk.raw" "$debian_img"
	mkdir -p "${pins%/*}"
	cmp -s "$b/packages" "$pins" || {
		cp "$b/packages" "$pins"
		log "$pins was written from this build; review and commit it"
	}
	mark_built "$(key_of "$debian_version")" "$debian_img"
	debian_save "$arch"
	debian_input "$arch" "$pins"
	rm -rf "$b"
	log "$arch $debian_name $debian_version: assembled in $(debian_elapsed "$t") s," \
		"$(($(stat -c %s "$debian_img") / 1048576)) MiB"
}

# The manifest's record of the root's pins: the list's digest.
debian_input() { # arch pins
	inputs+=("$(jq -nc --arg a "$DEB_ARCH" --arg l "${2#"$root"/}" --arg v "$(sha256sum <"$2" | cut -c1-64)" \
		'{role:"root",deb_arch:$a,package:"debian-12",version:("sha256:" + $v),list:$l}')")
}
