#!/usr/bin/env bash
# The QEMU bundles of the artifact store (scripts/artifacts/qemu.sh) work on
# their own, side by side, without the system's QEMU:
# - every vmm and storage entry for this machine's arch is unpacked under a
#   temp PREFIX/<component>/<name>/<version>/<arch>/ (digest checked), and
#   its qemu-system-* print the entry's Debian version;
# - for each VMM version and each firmware version its entry lists, the
#   loam-tiny image of every guest arch boots through that firmware to
#   LOAM-READY with its disk served over vhost-user-blk by the same
#   version's qemu-storage-daemon; then the newest VMM with the oldest daemon
#   (a cross pair). VMM and daemon run as nobody, guest memory is a shared
#   memfd, and /proc/PID/exe of both is the pinned file;
# - the bundles of a foreign host arch hold ELF files of that arch, and under
#   qemu-user, against a root holding only the libraries the entries'
#   depends name (built by make artifacts), they print their version and
#   each qemu-system-* sets up its guest arch's machine (accelerator module
#   and data dir found) and quits.
# The system's QEMU binaries, data, firmware blobs and modules are hidden by
# a private mount namespace for the whole run, so a bundle that leaned on
# them fails. Boots run one after another (the machine is shared); their
# times are printed, never asserted. Skips (77) without the store.
set -euo pipefail
root=${LOAM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=tests/lib.sh
. "$root/tests/lib.sh"
store=${LOAM_ARTIFACT_STORE:-$root/build/artifacts/store}
timeout_s=${LOAM_BOOT_TIMEOUT:-300}
require_store "$store"
manifest=$store/manifest.json

for tool in jq tar sha256sum file setpriv unshare mount readelf; do
	command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (scripts/deps.sh)" >&2; exit 1; }
done

# ---- a private mount namespace without the system's QEMU ------------------
if [[ -z ${LOAM_QEMU_VERSIONS_NS:-} ]]; then
	[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (mount namespace, unprivileged users)"; exit 77; }
	LOAM_QEMU_VERSIONS_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
empty=$(mktemp -d /tmp/loam-qv-empty.XXXXXX)
hidden=()
for d in /usr/share/qemu /usr/share/seabios /usr/lib/ipxe /usr/lib/*-linux-gnu*/qemu; do
	[[ -d $d ]] && mount --bind "$empty" "$d" && hidden+=("$d")
done
for f in /usr/bin/qemu-system-* /usr/bin/qemu-storage-daemon /usr/bin/qemu-img; do
	[[ -f $f ]] && mount --bind /dev/null "$f" && hidden+=("$f")
done
echo "hidden from this run: ${hidden[*]:-nothing (no system QEMU installed)}"

tmp=$(mktemp -d /tmp/loam-qv.XXXXXX)
chmod 0755 "$tmp"
prefix=$tmp/prefix
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$tmp" "$empty"
}
trap cleanup EXIT

# The recipe of the arch whose uname -m this machine reports, and of any arch.
recipe() { # arch var
	(
		# shellcheck source=scripts/artifacts/x64.env
		source "$root/scripts/artifacts/$1.env"
		echo "${!2}"
	)
}
all_arches=()
for f in "$root"/scripts/artifacts/*.env; do all_arches+=("$(basename "$f" .env)"); done
host=
for a in "${all_arches[@]}"; do [[ $(recipe "$a" UNAME_MACHINE) == $(uname -m) ]] && host=$a; done
[[ -n $host ]] || { echo "FAIL: no scripts/artifacts/*.env for $(uname -m)" >&2; exit 1; }

# Unpacks one store entry where a host installs it; prints the dir, or
# fails when the file does not match its digest.
install_entry() { # entry-json
	local e=$1 path sum dir
	path=$store/$(jq -r .path <<<"$e")
	sum=$(jq -r .sha256 <<<"$e")
	dir=$prefix/$(jq -r '"\(.component)/\(.name)/\(.version)/\(.arch)"' <<<"$e")
	if [[ ! -d $dir ]]; then
		[[ $(sha256sum "$path" | cut -c1-64) == "$sum" ]] || return 1
		mkdir -p "$dir"
		tar -xzf "$path" -C "$dir"
		chmod -R a+rX "$prefix"
	fi
	echo "$dir"
}

entries() { # component arch -> one entry per line, in manifest order
	jq -c --arg c "$1" --arg a "$2" \
		'.entries[] | select(.component == $c and .arch == $a and has("guest_arches"))' "$manifest"
}

mapfile -t vmms < <(entries vmm "$host")
mapfile -t daemons < <(entries storage "$host")
[[ ${#vmms[@]} -gt 0 && ${#daemons[@]} -gt 0 ]] ||
	{ echo "FAIL: the store has no vmm or storage bundle for $host; run make artifacts" >&2; exit 1; }

# ---- versions ---------------------------------------------------------------
declare -A vmm_dir storage_dir
for e in "${vmms[@]}" "${daemons[@]}"; do
	v=$(jq -r .version <<<"$e")
	dv=$(jq -r .debian_version <<<"$e")
	d=$(install_entry "$e") || { bad "$(jq -r .path <<<"$e") does not match its digest"; continue; }
	if [[ $(jq -r .component <<<"$e") == vmm ]]; then
		vmm_dir[$v]=$d
		for g in $(jq -r '.guest_arches[]' <<<"$e"); do
			out=$(QEMU_MODULE_DIR=$d/lib/qemu "$d/bin/$(recipe "$g" QEMU_BINARY)" --version 2>&1 | head -n 1) || true
			contains "$(recipe "$g" QEMU_BINARY) $v --version" "(Debian $dv)" "$out"
			echo "$host $(recipe "$g" QEMU_BINARY): $out"
		done
	else
		storage_dir[$v]=$d
		out=$("$d/bin/qemu-storage-daemon" --version 2>&1 | head -n 1) || true
		contains "qemu-storage-daemon $v --version" "(Debian $dv)" "$out"
		echo "$host qemu-storage-daemon: $out"
	fi
done

# ---- boots --------------------------------------------------------------------
firmware_dir() { # name version arch -> installed dir, or "" when the store lacks it
	local e
	e=$(jq -c --arg n "$1" --arg v "$2" --arg a "$3" '.entries[] | select(.component ==
		"firmware" and .name == $n and .version == $v and .arch == $a)' "$manifest")
	[[ -n $e ]] && install_entry "$e"
}

image_dir() { # arch -> installed dir of the newest loam-tiny image
	install_entry "$(jq -c --arg a "$1" '[.entries[] | select(.component == "image" and
		.name == "loam-tiny" and .arch == $a)] | last' "$manifest")"
}

stop() { # pid
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

machine() { # guest_arch [machine option suffix] -> QEMU machine and CPU words
	case $1 in
	x64) printf '%s\n' -M "q35${2:-}" -cpu max ;;
	arm64) printf '%s\n' -M "virt,gic-version=3${2:-}" -cpu cortex-a72 ;;
	esac
}

# An array, not a function: `"${as_nobody[@]}" X &` execs X in the child
# whose pid $! is.
as_nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs)

# Boots one guest: VMM of vmm_version, daemon of storage_version, firmware fw_dir.
boot() { # guest_arch vmm_version storage_version fw_dir
	local g=$1 vv=$2 sv=$3 fw=$4 vd=${vmm_dir[$2]} sd=${storage_dir[$3]} d img qsd vmm i ms
	local label="$g vmm $vv + storage $sv" start machine code vars
	d=$(mktemp -d "$tmp/vm.XXXXXX")
	img=$(image_dir "$g")/loam-tiny.$(recipe "$g" IMAGE_SUFFIX)
	code=$fw/$(recipe "$g" FW_CODE)
	vars=$fw/$(recipe "$g" FW_VARS)
	machine=$(recipe "$g" UNAME_MACHINE)
	cp "$vars" "$d/vars.fd"
	"$sd/bin/qemu-img" create -q -f qcow2 -b "$img" -F raw "$d/disk.qcow2"
	chown -R nobody:nogroup "$d"
	start=$(date +%s%N)
	"${as_nobody[@]}" "$sd/bin/qemu-storage-daemon" \
		--blockdev "driver=file,node-name=file0,filename=$d/disk.qcow2" \
		--blockdev driver=qcow2,node-name=disk0,file=file0 \
		--export "type=vhost-user-blk,id=exp0,node-name=disk0,writable=on,addr.type=unix,addr.path=$d/disk.sock" \
		>"$d/qsd.log" 2>&1 &
	qsd=$!
	pids+=("$qsd")
	for ((i = 0; i < 200; i++)); do
		[[ -S $d/disk.sock ]] && break
		sleep 0.05
	done
	local machine_args
	mapfile -t machine_args < <(machine "$g" ,memory-backend=mem)
	[[ ${#machine_args[@]} -gt 0 ]] || { bad "no boot recipe for $g in $0"; return; }
	QEMU_MODULE_DIR=$vd/lib/qemu "${as_nobody[@]}" "$vd/bin/$(recipe "$g" QEMU_BINARY)" \
		-L "$vd/share/qemu" -accel tcg "${machine_args[@]}" -m 512 \
		-object memory-backend-memfd,id=mem,size=512M,share=on \
		-nodefaults -no-user-config -display none -no-reboot \
		-drive "if=pflash,format=raw,unit=0,readonly=on,file=$code" \
		-drive "if=pflash,format=raw,unit=1,file=$d/vars.fd" \
		-chardev "socket,id=vub0,path=$d/disk.sock" \
		-device vhost-user-blk-pci,chardev=vub0,disable-legacy=on,bootindex=1 \
		-netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0 \
		-serial "file:$d/serial.log" >"$d/vmm.log" 2>&1 &
	vmm=$!
	pids+=("$vmm")
	for ((i = 0; i < timeout_s * 10; i++)); do
		grep -qa "^LOAM-READY machine=$machine" "$d/serial.log" 2>/dev/null && break
		kill -0 "$vmm" 2>/dev/null && kill -0 "$qsd" 2>/dev/null || break
		sleep 0.1
	done
	ms=$((($(date +%s%N) - start) / 1000000))
	if grep -qa "^LOAM-READY machine=$machine" "$d/serial.log" 2>/dev/null; then
		ok
		printf 'ok   %-60s READY in %d.%01d s\n' "$label" $((ms / 1000)) $((ms % 1000 / 100))
	else
		bad "$label: no 'LOAM-READY machine=$machine' after $ms ms"
		tail -n 20 "$d/serial.log" "$d/vmm.log" "$d/qsd.log" 2>/dev/null | cat -v >&2
	fi
	expect "$label: VMM exe" "$vd/bin/$(recipe "$g" QEMU_BINARY)" "$(readlink "/proc/$vmm/exe" || true)"
	expect "$label: daemon exe" "$sd/bin/qemu-storage-daemon" "$(readlink "/proc/$qsd/exe" || true)"
	expect "$label: daemon user" nobody "$(stat -c %U "/proc/$qsd" || true)"
	expect "$label: VMM user" nobody "$(stat -c %U "/proc/$vmm" || true)"
	stop "$vmm" # the daemon stops after its VMM
	stop "$qsd"
}

for e in "${vmms[@]}"; do
	v=$(jq -r .version <<<"$e")
	[[ -n ${storage_dir[$v]:-} ]] || { bad "no storage bundle of version $v for $host"; continue; }
	while read -r fw_name fw_version; do
		for g in $(jq -r '.guest_arches[]' <<<"$e"); do
			fw=$(firmware_dir "$fw_name" "$fw_version" "$g") || fw=
			[[ -n $fw ]] || { bad "vmm $v lists firmware $fw_name $fw_version, which the store lacks for $g"; continue; }
			boot "$g" "$v" "$v" "$fw"
		done
	done < <(jq -r '.firmware[] | "\(.name) \(.version)"' <<<"$e")
done
newest=$(jq -r .version <<<"${vmms[-1]}")
oldest=$(jq -r .version <<<"${daemons[0]}")
if [[ $newest != "$oldest" ]]; then
	read -r fw_name fw_version < <(jq -r '.firmware[0] | "\(.name) \(.version)"' <<<"${vmms[-1]}")
	boot "$host" "$newest" "$oldest" "$(firmware_dir "$fw_name" "$fw_version" "$host")"
fi

# ---- foreign host arches: the right ELF files, running under qemu-user --------
for a in "${all_arches[@]}"; do
	[[ $a == "$host" ]] && continue
	mapfile -t foreign < <(entries vmm "$a"; entries storage "$a")
	[[ ${#foreign[@]} -gt 0 ]] || { echo "note: the store has no $a bundles"; continue; }
	user_emu=qemu-$(recipe "$a" UNAME_MACHINE)-static
	command -v "$user_emu" >/dev/null || { bad "$user_emu is missing (scripts/deps.sh test)"; continue; }
	sysroot=$(dirname "$store")/work/qemu/sysroot-$(recipe "$a" DEB_ARCH)
	[[ -d $sysroot ]] || { bad "no $sysroot; run make artifacts"; continue; }
	for e in "${foreign[@]}"; do
		d=$(install_entry "$e") || { bad "$(jq -r .path <<<"$e") does not match its digest"; continue; }
		v=$(jq -r .version <<<"$e")
		dv=$(jq -r .debian_version <<<"$e")
		while read -r f; do
			contains "$a $v: file ${f#"$d"/}" "$(recipe "$a" FILE_MACHINE)" "$(file -b "$f")"
		done < <(find "$d/bin" "$d/lib" -type f 2>/dev/null)
		for f in "$d"/bin/qemu-system-* "$d"/bin/qemu-storage-daemon; do
			[[ -f $f ]] || continue
			out=$("$user_emu" -L "$sysroot" "$f" --version 2>&1 | head -n 1) || true
			contains "$a ${f##*/} $v under $user_emu" "(Debian $dv)" "$out"
			echo "$a ${f##*/} ($(file -b "$f" | cut -d, -f2 | xargs)) under $user_emu: $out"
		done
		# The machine of each guest arch comes up (accelerator module and
		# data dir found) and quits on QMP's word: QEMU greets before it
		# sets up the machine, so only the SHUTDOWN event proves it did.
		for g in $(jq -r '.guest_arches[]? // empty' <<<"$e"); do
			[[ $(jq -r .component <<<"$e") == vmm ]] || break
			mapfile -t m < <(machine "$g")
			out=$(printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"quit"}' |
				QEMU_MODULE_DIR=$d/lib/qemu "$user_emu" -L "$sysroot" \
					"$d/bin/$(recipe "$g" QEMU_BINARY)" -L "$d/share/qemu" -accel tcg "${m[@]}" \
					-m 128 -nodefaults -no-user-config -display none -S -qmp stdio 2>&1) || true
			contains "$a $(recipe "$g" QEMU_BINARY) $v starts a $g machine" '"event": "SHUTDOWN"' "$out"
		done
	done
done
finish
