# shellcheck shell=bash disable=SC2154 # cache, here, store, work, arches, tree_manifest: build-artifacts.sh
# QEMU side by side (issue 14): per QEMU line (7.2 from bookworm, 10.0 from
# bookworm-backports) and per host arch, a "vmm" tarball (qemu-system-* for
# every guest arch, the TCG modules, the data dir) and a "storage" tarball
# (qemu-storage-daemon, qemu-img), unpacked from Debian's .debs. A host
# installs them under PREFIX/<component>/<name>/<version>/<arch>/, where
# <arch> is the arch of the binaries (the host's), not of the guests.
# docs/artifacts.md describes the layout and the manifest fields.
#
# Sourced by scripts/build-artifacts.sh after its helpers (log, die, fetch,
# pack_tar, key_of, up_to_date, mark_built, stamp_of, file_entry) and its
# cache, store, work, here, arches and tree_manifest. qemu_bundles appends
# to its entries and inputs. The .debs come from deb.debian.org through an
# apt configuration of this build's own (CACHE/apt-qemu), never the
# system's sources; a warm build never runs apt.

# line|Debian version pattern|suites searched, in order
qemu_lines=(
	"7.2|1:7.2+*|bookworm"
	"10.0|1:10.0.*|bookworm-backports bookworm"
)
qemu_apt=$cache/apt-qemu
qemu_apt_updated=0
qemu_native_deb=$(dpkg --print-architecture)

# What the builder needs from each arch's recipe (scripts/artifacts/*.env):
# every arch with a recipe is a guest arch of every bundle.
declare -A qemu_deb_of qemu_vmm_pkg qemu_binary
qemu_guests=()
qemu_read_recipes() {
	local f a
	for f in "$here"/*.env; do
		a=$(basename "$f" .env)
		qemu_guests+=("$a")
		read -r "qemu_deb_of[$a]" "qemu_vmm_pkg[$a]" "qemu_binary[$a]" < <(
			# shellcheck source=scripts/artifacts/x64.env
			source "$f"
			echo "$DEB_ARCH $VMM_PKG $QEMU_BINARY"
		)
	done
}

# apt-get / apt-cache on this build's own sources, lists and caches.
qemu_apt_run() { # apt-get|apt-cache args...
	local tool=$1 a
	shift
	local opts=(-q -o Dir::Etc::sourcelist="$qemu_apt/sources.list"
		-o Dir::Etc::sourceparts="$qemu_apt/empty"
		-o Dir::Etc::preferences="$qemu_apt/empty/none"
		-o Dir::Etc::preferencesparts="$qemu_apt/empty"
		-o Dir::State::Lists="$qemu_apt/lists" -o Dir::Cache="$qemu_apt/cache"
		-o Dir::State::status="$qemu_apt/empty/status"
		-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
		-o APT::Sandbox::User=root)
	for a in "${qemu_debs[@]}"; do opts+=(-o "APT::Architectures::=$a"); done
	"$tool" "${opts[@]}" "$@"
}

qemu_apt_setup() {
	local s list arch_list
	mkdir -p "$qemu_apt"/{lists/partial,cache/archives/partial,empty}
	# No installed packages: what this machine has never decides a version.
	touch "$qemu_apt/empty/status"
	arch_list=$(
		IFS=,
		echo "${qemu_debs[*]}"
	)
	list=$(for s in "${qemu_lines[@]}"; do
		s=${s##*|}
		printf '%s\n' $s
	done | sort -u | while read -r s; do
		echo "deb [arch=$arch_list signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $s main"
	done)
	[[ -f $qemu_apt/sources.list && $(cat "$qemu_apt/sources.list") == "$list" ]] ||
		echo "$list" >"$qemu_apt/sources.list"
}

qemu_apt_update() {
	[[ $qemu_apt_updated -eq 1 ]] && return 0
	qemu_apt_updated=1
	log "qemu: refreshing the package lists of $qemu_apt/sources.list (deb.debian.org)"
	# Builds in other trees share these lists: one update at a time.
	(
		flock 9
		qemu_apt_run apt-get update >/dev/null
	) 9>"$qemu_apt/.lock" || die "apt-get update on $qemu_apt/sources.list failed"
}

qemu_have_lists() { compgen -G "$qemu_apt/lists/*_Packages*" >/dev/null; }

qemu_deb_file() { # pkg deb_arch version
	local id="$1_$3_$2"
	echo "$cache/debs/${id//:/%3a}.deb"
}

# apt-cache madison's rows for pkg[:deb_arch] specs, one call: it parses the
# lists every time (~1 s), since this configuration keeps no pkgcache.bin.
qemu_madison() { # pkg:deb_arch...
	local want qs=()
	for want; do
		if [[ ${want#*:} == all || ${want#*:} == "$qemu_native_deb" ]]; then
			qs+=("${want%%:*}")
		else
			qs+=("$want")
		fi
	done
	qemu_apt_run apt-cache madison "${qs[@]}" 2>/dev/null || true
}

# Versions of pkg:deb_arch in madison rows, newest first, as "version suite".
qemu_versions_in() { # rows pkg deb_arch
	local p v src where deb_arch
	while IFS='|' read -r p v src; do
		p=${p// /} v=${v// /}
		[[ ${p%%:*} == "$2" ]] || continue
		read -r _ where deb_arch _ <<<"$src"
		[[ $3 == all || $deb_arch == "$3" ]] || continue
		echo "$v ${where%%/*}"
	done <<<"$1"
}

qemu_listed() { # rows pkg:deb_arch version
	qemu_versions_in "$1" "${2%%:*}" "${2#*:}" | awk -v v="$3" '$1 == v { f = 1 } END { exit !f }'
}

# The newest version in the given suites that matches pattern (madison
# lists the newest first).
qemu_candidate() { # rows pkg deb_arch pattern suites...
	local rows=$1 pkg=$2 arch=$3 pattern=$4 v suite s
	shift 4
	while read -r v suite; do
		# shellcheck disable=SC2053 # the pattern is a glob on purpose
		[[ $v == $pattern ]] || continue
		for s in "$@"; do
			if [[ $suite == "$s" ]]; then
				echo "$v"
				return 0
			fi
		done
	done < <(qemu_versions_in "$rows" "$pkg" "$arch")
}

# Sets qemu_ver[pkg:deb_arch] for the packages of one line: the tree's pin
# when its .deb is cached (no apt at all) or the archive still has it, else
# the newest of the line's suites (and the tree's manifest gets regenerated).
qemu_resolve() { # line pattern suites pkg:deb_arch...
	local line=$1 pattern=$2 suites=$3 want pkg arch pin v p rows need=()
	shift 3
	for want in "$@"; do
		pkg=${want%%:*} arch=${want#*:}
		pin=${qemu_pins["qemu-$line $arch $pkg"]:-}
		if [[ -n $pin && -f $(qemu_deb_file "$pkg" "$arch" "$pin") ]]; then
			qemu_ver[$want]=$pin
		else
			need+=("$want")
		fi
	done
	[[ ${#need[@]} -gt 0 ]] || return 0
	log "qemu $line: looking up ${#need[@]} packages"
	qemu_have_lists || qemu_apt_update
	rows=$(qemu_madison "${need[@]}")
	for want in "${need[@]}"; do
		pkg=${want%%:*} arch=${want#*:}
		pin=${qemu_pins["qemu-$line $arch $pkg"]:-}
		if [[ -n $pin && $qemu_apt_updated -eq 0 ]] && ! qemu_listed "$rows" "$want" "$pin"; then
			qemu_apt_update
			rows=$(qemu_madison "${need[@]}")
		fi
		if [[ -n $pin ]] && qemu_listed "$rows" "$want" "$pin"; then
			v=$pin
		else
			p=$pattern
			[[ $pkg == qemu-* ]] || p='*'
			# shellcheck disable=SC2086 # suites is a list
			v=$(qemu_candidate "$rows" "$pkg" "$arch" "$p" $suites)
			[[ -n $v ]] || die "no $pkg:$arch matching $p in $suites; update qemu_lines in scripts/artifacts/qemu.sh"
			[[ -n $pin ]] && log "note: $pkg:$arch $pin is gone from the archive; using $v"
		fi
		qemu_ver[$want]=$v
	done
	qemu_download "${need[@]}"
}

qemu_download() { # pkg:deb_arch... (versions in qemu_ver)
	local want spec specs=() tmp
	for want in "$@"; do
		spec=${want%%:*}
		[[ ${want#*:} == all ]] || spec=$want
		[[ -f $(qemu_deb_file "${want%%:*}" "${want#*:}" "${qemu_ver[$want]}") ]] ||
			specs+=("$spec=${qemu_ver[$want]}")
	done
	[[ ${#specs[@]} -gt 0 ]] || return 0
	log "qemu: downloading ${#specs[@]} packages"
	tmp=$(mktemp -d "$cache/debs/.dl.XXXXXX")
	(cd "$tmp" && qemu_apt_run apt-get download "${specs[@]}" >/dev/null) ||
		{
			rm -rf "$tmp"
			die "apt-get download ${specs[*]} failed"
		}
	mv "$tmp"/*.deb "$cache/debs/"
	rm -rf "$tmp"
}

# ---- shared-library dependencies --------------------------------------------

qemu_needed() { # elf... -> sonames the files need, without the dynamic loader
	local f
	for f; do readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; done |
		grep -v '^ld-linux' | sort -u
}

qemu_depends_names() { # deb... -> package names of their Depends
	local d
	for d; do dpkg-deb -f "$d" Depends; done | tr ',|' '\n\n' |
		sed 's/([^)]*)//; s/:any//; s/ //g' | grep -v '^$' | sort -u
}

# Debian package names that provide the sonames the bundle's ELF files need,
# from the dpkg database of this machine (the same library package names on
# every arch), checked against the Depends of the .debs the files came from.
qemu_depends() { # "deb..." elf...
	local -a debs
	read -r -a debs <<<"$1"
	shift
	local sonames re allowed hits s p
	sonames=$(qemu_needed "$@")
	re=$(sed 's/[.+]/\\&/g' <<<"$sonames" | paste -sd'|')
	hits=$(grep -HE "^(/usr)?/lib/[a-z0-9_]+-linux-gnu[a-z]*/($re)\$" /var/lib/dpkg/info/*.list |
		sed 's|^/var/lib/dpkg/info/\([^:]*\)\(:[a-z0-9]*\)\?\.list:.*/\([^/]*\)$|\3 \1|' | sort -u)
	allowed=$(qemu_depends_names "${debs[@]}")
	for s in $sonames; do
		p=$(awk -v s="$s" '$1 == s { print $2 }' <<<"$hits" | sort -u)
		[[ -n $p ]] || die "no installed package provides $s (needed by QEMU); run scripts/deps.sh vm"
		[[ $(wc -l <<<"$p") -eq 1 ]] || die "several packages provide $s: $p"
		grep -qxF "$p" <<<"$allowed" || die "$s maps to $p, which the QEMU .debs do not depend on"
		echo "$p"
	done | sort -u | jq -Rnc '[inputs]'
}

# ---- bundles -----------------------------------------------------------------

# Copies the files of one bundle out of the unpacked .debs into stage/.
qemu_stage() { # line deb_arch stage
	local line=$1 deb=$2 b=$3 g t v=${qemu_ver[qemu-system-common:$2]} common utils f
	mkdir -p "$b/vmm/bin" "$b/vmm/lib/qemu" "$b/vmm/share/qemu" "$b/storage/bin"
	for g in "${qemu_guests[@]}"; do
		t=$(fetch "${qemu_vmm_pkg[$g]}" "$deb" "$v")
		cp "$t/usr/bin/${qemu_binary[$g]}" "$b/vmm/bin/"
	done
	common=$(fetch qemu-system-common "$deb" "$v")
	utils=$(fetch qemu-utils "$deb" "$v")
	# Only the accelerator modules: 7.2 cannot run TCG on x86 without
	# accel-tcg-x86_64.so; the others want GUI, audio or USB libraries.
	for f in "$common"/usr/lib/*/qemu/accel-*.so; do
		[[ -e $f ]] && cp "$f" "$b/vmm/lib/qemu/"
	done
	# One data dir for -L: QEMU's own blobs and keymaps, SeaBIOS (x86
	# direct kernel boot) and iPXE's option ROMs (virtio-net-pci's romfile).
	cp -RL "$(fetch qemu-system-data all "${qemu_ver[qemu-system-data:all]}")/usr/share/qemu/." \
		"$(fetch seabios all "${qemu_ver[seabios:all]}")/usr/share/seabios/." \
		"$(fetch ipxe-qemu all "${qemu_ver[ipxe-qemu:all]}")/usr/lib/ipxe/qemu/." \
		"$b/vmm/share/qemu/"
	for f in qemu-storage-daemon qemu-img; do
		if [[ -f $utils/usr/bin/$f ]]; then
			cp "$utils/usr/bin/$f" "$b/storage/bin/"
		else # 7.2 ships the daemon in qemu-system-common
			cp "$common/usr/bin/$f" "$b/storage/bin/" || die "no $f in QEMU $line ($deb)"
		fi
	done
	# Modes that do not depend on the umask or the .debs' directory modes.
	chmod -R u=rwX,go=rX "$b"
	chmod 0755 "$b"/vmm/bin/* "$b"/storage/bin/*
}

qemu_bundle() { # line arch -> appends to entries
	local line=$1 arch=$2 deb=${qemu_deb_of[$2]} v bv key b t0 t g elves
	v=${qemu_ver[qemu-system-common:$deb]}
	bv=${v#*:}
	bv=${bv//\~/_} # '~' is not safe in loam's paths; debian_version keeps it
	local vmm_tar=$store/vmm/qemu/$bv/$arch/qemu.tar.gz
	local sto_tar=$store/storage/qemu-storage-daemon/$bv/$arch/qemu-storage-daemon.tar.gz
	local want pkgs=() debs=()
	for want in "${!qemu_ver[@]}"; do
		[[ $want == *:"$deb" || $want == *:all ]] || continue
		[[ $want == *:all || ${qemu_ver[$want]} == "$v" ]] ||
			die "QEMU $line for $deb: $want is ${qemu_ver[$want]}, qemu-system-common is $v"
		pkgs+=("$want=${qemu_ver[$want]}")
		debs+=("$(qemu_deb_file "${want%%:*}" "${want#*:}" "${qemu_ver[$want]}")")
	done
	key=$(key_of "$line $deb" "$(printf '%s\n' "${pkgs[@]}" | sort)" "$SOURCE_DATE_EPOCH" \
		"$(for g in "${qemu_guests[@]}"; do echo "$g ${qemu_vmm_pkg[$g]} ${qemu_binary[$g]}"; done)" \
		"$(sha256sum <"${BASH_SOURCE[0]}")")
	if up_to_date "$key" "$vmm_tar" && up_to_date "$key" "$sto_tar"; then
		log "qemu $line $arch bundles $bv are up to date"
	else
		t0=$(date +%s)
		log "qemu $line: building the $arch vmm and storage bundles $bv"
		b=$work/qemu-$line-$arch
		rm -rf "$b" "${vmm_tar%/*}" "${sto_tar%/*}"
		qemu_stage "$line" "$deb" "$b"
		mkdir -p "$(dirname "$(stamp_of "$vmm_tar")")" "$(dirname "$(stamp_of "$sto_tar")")"
		mapfile -t elves < <(find "$b/vmm/bin" "$b/vmm/lib" -type f | sort)
		qemu_depends "${debs[*]}" "${elves[@]}" >"$(stamp_of "$vmm_tar").tmp"
		qemu_depends "${debs[*]}" "$b"/storage/bin/* >"$(stamp_of "$sto_tar").tmp"
		mkdir -p "${vmm_tar%/*}" "${sto_tar%/*}"
		pack_tar "$b/vmm" "$vmm_tar"
		pack_tar "$b/storage" "$sto_tar"
		for t in "$vmm_tar" "$sto_tar"; do
			mv "$(stamp_of "$t").tmp" "$(stamp_of "$t").depends"
			mark_built "$key" "$t"
		done
		rm -rf "$b"
		log "qemu $line: $arch bundles built in $(($(date +%s) - t0)) s"
	fi
	qemu_sysroot_names[$deb]+=$'\n'$(cat "$(stamp_of "$vmm_tar").depends" "$(stamp_of "$sto_tar").depends")
	qemu_new+=("$(qemu_entry vmm qemu "$bv" "$arch" "$vmm_tar" "$v")"
		"$(qemu_entry storage qemu-storage-daemon "$bv" "$arch" "$sto_tar" "$v")")
}

# An entry without jq (a warm build runs it 8 times): every string is a
# Debian version, a fixed name or a store path, checked for safe characters.
qemu_entry() { # component name version arch tarball debian_version
	local ds p=${5#"$store"/} w
	for w in "$3" "$p" "$6"; do
		[[ $w =~ ^[A-Za-z0-9.+~:_/-]+$ ]] || die "unexpected characters in '$w'"
	done
	ds=$(digest_of "$5")
	printf '{"component":"%s","name":"%s","version":"%s","arch":"%s","kind":"tarball",' "$1" "$2" "$3" "$4"
	printf '"path":"%s","sha256":"%s","size":%s,' "$p" "${ds% *}" "${ds#* }"
	printf '"guest_arches":%s,"depends":%s,"debian_version":"%s"}\n' "$qemu_guests_json" \
		"$(cat "$(stamp_of "$5").depends")" "$6"
}

# A foreign arch's libraries that the bundles' depends name, and the
# libraries those need, unpacked into one root: tests/artifacts/qemu_versions.sh
# runs the foreign bundles there under qemu-user. Not part of the store.
qemu_sysroot() { # deb_arch
	local deb=$1 dir=$work/qemu/sysroot-$1 names key pkgs f
	names=$(tr -d '[]"' <<<"${qemu_sysroot_names[$deb]}" | tr ',' '\n' | sort -u)
	key=$(key_of "$deb" "$names")
	[[ -f $dir.key && $(cat "$dir.key") == "$key" ]] && return 0
	log "qemu: building a $deb library root for qemu-user checks ($dir)"
	qemu_have_lists || qemu_apt_update
	# shellcheck disable=SC2046 # one word per package
	pkgs=$(qemu_apt_run apt-cache depends --recurse --no-recommends --no-suggests \
		--no-conflicts --no-breaks --no-replaces --no-enhances \
		$(sed "s/\$/:$deb/" <<<"$names") 2>/dev/null |
		sed -n "s/^\(lib[^ ]*\|zlib1g\):$deb\$/\1/p" | sort -u)
	local tmp
	rm -rf "$dir" "$dir.key"
	tmp=$(mktemp -d "$work/.sysroot.XXXXXX")
	# shellcheck disable=SC2046
	(cd "$tmp" && qemu_apt_run apt-get download $(sed "s/\$/:$deb/" <<<"$pkgs") >/dev/null) ||
		die "could not download the $deb libraries"
	mkdir -p "$dir"
	for f in "$tmp"/*.deb; do dpkg-deb -x "$f" "$dir"; done
	rm -rf "$tmp"
	echo "$key" >"$dir.key"
}

qemu_bundles() {
	local arch line name pattern suites want deb role pkg v t0=${EPOCHREALTIME/./}
	local -A qemu_ver qemu_pins qemu_sysroot_names
	qemu_read_recipes
	qemu_debs=()
	for arch in "${arches[@]}"; do qemu_debs+=("${qemu_deb_of[$arch]}"); done
	qemu_apt_setup
	while read -r role deb pkg v; do
		qemu_pins["$role $deb $pkg"]=$v
	done < <(jq -r '.inputs[]? | select(.role | startswith("qemu-")) |
		"\(.role) \(.deb_arch) \(.package) \(.version)"' "$tree_manifest")
	qemu_guests_json=$(printf '"%s",' "${qemu_guests[@]}")
	qemu_guests_json="[${qemu_guests_json%,}]"
	qemu_new=()
	for line in "${qemu_lines[@]}"; do
		IFS='|' read -r name pattern suites <<<"$line"
		qemu_ver=()
		local wants=(qemu-system-data:all seabios:all ipxe-qemu:all)
		for deb in "${qemu_debs[@]}"; do
			wants+=(qemu-system-common:"$deb" qemu-utils:"$deb")
			for arch in "${qemu_guests[@]}"; do wants+=("${qemu_vmm_pkg[$arch]}:$deb"); done
		done
		qemu_resolve "$name" "$pattern" "$suites" "${wants[@]}"
		for want in "${wants[@]}"; do
			inputs+=("$(printf '{"role":"qemu-%s","deb_arch":"%s","package":"%s","version":"%s"}' \
				"$name" "${want#*:}" "${want%%:*}" "${qemu_ver[$want]}")")
		done
		for arch in "${arches[@]}"; do qemu_bundle "$name" "$arch"; done
	done
	# A VMM lists the firmware it was tested with: this release's, which
	# tests/artifacts/qemu_versions.sh boots with every VMM version.
	mapfile -t -O "${#entries[@]}" entries < <(printf '%s\n' "${entries[@]}" "${qemu_new[@]}" |
		jq -sc '([.[] | select(.component == "firmware") | {name, version}] | unique) as $fw
			| .[] | select(has("guest_arches"))
			| if .component == "vmm" then . + {firmware: $fw} else . end')
	for deb in "${qemu_debs[@]}"; do
		[[ $deb == "$qemu_native_deb" ]] || qemu_sysroot "$deb"
	done
	t0=$(((${EPOCHREALTIME/./} - t0) / 100000))
	log "qemu: ${#qemu_new[@]} entries in $((t0 / 10)).$((t0 % 10)) s"
}
