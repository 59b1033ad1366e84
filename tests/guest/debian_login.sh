#!/usr/bin/env bash
# A debian-12 VM of each arch, end to end through loamd and the real agent
# on the local host (x64, emulating arm64 under TCG), booted through its own
# firmware (OVMF / AAVMF), both at once:
#   - created through the API with a key this test made and no user given:
#     the default user (loam) logs in with `loam vm ssh NAME -i KEY`, which
#     pins the host keys loam read from the guest's console;
#   - inside: uname -m, hostname = the VM's name, df / within 5 % of the
#     size's storage, sudo -n true, cloud-init status done, and the host key
#     sshd serves has the fingerprint `vm show --json` reports, and the
#     addresses the guest took (DHCP, RA) are vm show's ipv4 and ipv6;
#   - its storage daemon killed (kill -9): a session opened before goes on
#     writing, syncing and reading within 10 s, on the same boot (issue 14);
#   - stop and start: a file written before is still there, the host key
#     is unchanged (test_ssh_session checks that a changed key is refused).
# Prints the time from request to running per arch and how long the host's
# install of both debian-12 images took. Skips (77) without the store.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bin=${LOAM_BIN_DIR:?}
store=${LOAM_ARTIFACT_STORE:-${LOAM_SOURCE_DIR:?}/build/artifacts/store}
dist=${LOAM_DIST_DIR:-${LOAM_SOURCE_DIR}/build/dist}
require_store "$store"
for t in ssh ssh-keygen curl jq; do
	command -v "$t" >/dev/null || { bad "$t is missing (scripts/deps.sh test)"; finish; }
done
[[ $(jq '[.entries[] | select(.name == "debian-12")] | length' "$store/manifest.json") -eq 2 ]] ||
	{ bad "no debian-12 image of each arch in $store (make artifacts)"; finish; }

state=$(mktemp -d /tmp/loam-guest.XXXXXX)
chmod 0755 "$state"
port=$(free_port)
export LOAM_URL=http://127.0.0.1:$port LOAM_STATE_DIR=$state
loamd_pid=
trap 'purge_loam_state "$state" "$loamd_pid"' EXIT

loam() { "$bin/loam" "$@"; }
api() { curl -s -H "Authorization: Bearer $(cat "$state/token")" -H 'Content-Type: application/json' "$@"; }
vm_field() { loam vm show "$1" --json 2>/dev/null | jq -r "$2"; }
host_field() { loam host show local --json 2>/dev/null | jq -r "$1"; }
vm_state_is() { [[ $(vm_field "$1" .state) == "$2" ]]; }
debian_installed() {
	[[ $(host_field '[.artifacts[] | select(.name == "debian-12" and .state == "installed")] | length') -eq 2 &&
		$(host_field .state) == accepting ]]
}
now() { date +%s; }

"$bin/loamd" --state-dir "$state" --listen "127.0.0.1:$port" --dist-dir "$dist" \
	--artifact-store "$store" >"$state/loamd.log" 2>&1 &
loamd_pid=$!
loamd_up() { loam sizes >/dev/null 2>&1; }
until_true 30 "loamd" loamd_up || finish

t0=$(now)
loam host add --local >/dev/null || bad "host add --local"
# A pool of its own: the default one's addresses may be another loamd's on
# this machine at the same time, and the host's route to a VM is global.
loam host set local --allow-tcg --emulate arm64 --cpu-overcommit 2 \
	--ipv4-pool "10.251.$((RANDOM % 256)).0/29" >/dev/null || bad "host set"
until_true 600 "both debian-12 images installed on the host" debian_installed || finish
echo "host install with both debian-12 images: $(($(now) - t0)) s"

ssh-keygen -q -t ed25519 -N '' -C loam-guest-test -f "$state/key"
declare -A created=() running=()
for arch in x64 arm64; do
	body=$(jq -nc --arg n "deb-$arch" --arg a "$arch" --arg k "$(cat "$state/key.pub")" \
		'{name: $n, arch: $a, size: "standard-2", image: "debian-12", ssh_keys: [$k]}')
	created[$arch]=$(now)
	out=$(api -d "$body" "$LOAM_URL/v1/vms")
	expect "create deb-$arch" "deb-$arch" "$(jq -r .name <<<"$out" 2>/dev/null)"
done
expect "the default login user" loam "$(vm_field deb-x64 .login_user)"

# Both boot at once; each one's time to running is taken when it gets there.
settled=0
for ((i = 0; i < 2400 && settled < 2; i++)); do
	for arch in x64 arm64; do
		[[ -n ${running[$arch]:-} ]] && continue
		case $(vm_field "deb-$arch" .state) in
		running) running[$arch]=$(now) settled=$((settled + 1)) ;;
		failed) running[$arch]=failed settled=$((settled + 1)) ;;
		esac
	done
	sleep 1
done
for arch in x64 arm64; do
	r=${running[$arch]:-}
	if [[ $r =~ ^[0-9]+$ ]]; then
		echo "deb-$arch: request to running in $((r - created[$arch])) s (TCG, 2 vCPUs)"
		ok
	else
		bad "deb-$arch is not running ($(vm_field "deb-$arch" .state)): $(vm_field "deb-$arch" .state_reason)"
	fi
done
((fails == 0)) || { tail -n 30 "$state/loamd.log" >&2; finish; }

vssh() { # name cmd...: as the VM's login user, with the test's key
	local name=$1
	shift
	loam vm ssh "$name" -i "$state/key" -- "$@"
}

check_guest() { # arch machine
	local name=deb-$1 out want fp storage
	out=$(vssh "$name" 'uname -m; hostname; df -B1 --output=size / | tail -n 1; sudo -n true && echo sudo-ok;
		cloud-init status | sed -n "s/^status: //p"; ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d" " -f2;
		ip -4 -o addr show scope global | awk "{print \$4}" | cut -d/ -f1 | tr "\n" " "; echo;
		ip -6 -o addr show scope global | awk "{print \$4}" | cut -d/ -f1 | tr "\n" " "; echo') ||
		{ bad "$name: vm ssh failed"; return; }
	mapfile -t r <<<"$out"
	expect "$name uname -m" "$2" "${r[0]}"
	expect "$name hostname" "$name" "${r[1]}"
	storage=$(vm_field "$name" .storage_gib)
	want=$((storage << 30))
	if [[ ${r[2]} =~ ^[0-9]+$ ]] && ((r[2] > want * 95 / 100 && r[2] <= want)); then ok; else
		bad "$name df /: '${r[2]}' bytes, not within 5 % of $storage GiB"
	fi
	expect "$name sudo -n true" sudo-ok "${r[3]}"
	expect "$name cloud-init status" "done" "${r[4]}"
	fp=$(vm_field "$name" '.host_keys[] | select(.type == "ssh-ed25519") | .fingerprint')
	expect "$name served host key = vm show's" "$fp" "${r[5]}"
	contains "$name ssh_host_keys lists it" "$fp" "$(vm_field "$name" '.ssh_host_keys | join(" ")')"
	# The addresses the guest took by DHCP and router advertisements are
	# the ones `vm show` reports (issue 13).
	contains "$name has vm show's IPv4 (DHCP)" " $(vm_field "$name" .ipv4) " " ${r[6]} "
	contains "$name has vm show's IPv6 (RA/DHCPv6)" \
		" $(python3 -c 'import ipaddress, sys; print(ipaddress.ip_address(sys.argv[1]).compressed)' \
			"$(vm_field "$name" .ipv6)") " " ${r[7]} "
}
check_guest x64 x86_64
check_guest arm64 aarch64

# ---- the storage daemon is killed under the running guest (issue 14):
# a session opened before the kill writes, syncs and reads a file written
# before it, once a second; the ticks must go on within 10 s of the kill
# and to the end, on the same boot ----
storage_daemon() { # arch: "<supervisor> <daemon> <restarts>" -> daemon
	local pid
	read -r _ pid _ <"$state/host/vms/$(vm_field "deb-$1" .id)/storage.pid" 2>/dev/null
	echo "${pid:-}"
}
kill_storage() { # arch
	local name=deb-$1 boot0 daemon killed_at first after
	boot0=$(vssh "$name" 'echo before >~/before-kill && sync && cat /proc/sys/kernel/random/boot_id')
	daemon=$(storage_daemon "$1")
	[[ $daemon =~ ^[0-9]+$ ]] || { bad "$name: no storage daemon pid"; return; }
	vssh "$name" 'for i in $(seq 1 30); do echo $i >~/tick && sync && cat ~/before-kill >/dev/null &&
		echo tick $i; sleep 1; done' | while read -r l; do echo "$(date +%s) $l"; done >"$state/ticks-$1" &
	local reader=$!
	until_true 120 "$name: the first ticks" bash -c "(( \$(grep -c tick '$state/ticks-$1') >= 3 ))" || return
	killed_at=$(now)
	kill -9 "$daemon"
	wait "$reader"
	first=$(awk -v t="$killed_at" '$1 > t && /tick/ {print $1; exit}' "$state/ticks-$1")
	after=$(awk -v t="$killed_at" '$1 > t && /tick/' "$state/ticks-$1" | wc -l)
	if [[ $first =~ ^[0-9]+$ ]] && ((first - killed_at <= 10)); then ok; else
		bad "$name: no write+sync+read within 10 s of killing its storage daemon (first at ${first:-never})"
	fi
	expect "$name: the guest's I/O went on to the end" "tick 30" "$(tail -n 1 "$state/ticks-$1" | cut -d' ' -f2-)"
	[[ $(storage_daemon "$1") =~ ^[0-9]+$ && $(storage_daemon "$1") != "$daemon" ]] && ok ||
		bad "$name: no new storage daemon"
	expect "$name: the file written before the kill" before "$(vssh "$name" 'cat ~/before-kill')"
	expect "$name: same boot after the daemon's kill" "$boot0" \
		"$(vssh "$name" 'cat /proc/sys/kernel/random/boot_id')"
	echo "$name: storage daemon killed; $after ticks after it, the first $((first - killed_at)) s later"
}
kill_storage x64
kill_storage arm64

declare -A keys_before
for arch in x64 arm64; do
	keys_before[$arch]=$(vm_field "deb-$arch" '.ssh_host_keys | sort | join(" ")')
	vssh "deb-$arch" "echo kept-$arch >~/before-stop && sync" || bad "deb-$arch: write a file"
	loam vm stop "deb-$arch" >/dev/null || bad "stop deb-$arch"
done
for arch in x64 arm64; do
	until_true 120 "deb-$arch stopped" vm_state_is "deb-$arch" stopped
	loam vm start "deb-$arch" >/dev/null || bad "start deb-$arch"
done
for arch in x64 arm64; do
	until_true 1800 "deb-$arch running again" vm_state_is "deb-$arch" running || continue
	expect "deb-$arch file kept across stop/start" "kept-$arch" "$(vssh "deb-$arch" cat before-stop)"
	expect "deb-$arch host keys unchanged" "${keys_before[$arch]}" \
		"$(vm_field "deb-$arch" '.ssh_host_keys | sort | join(" ")')"
	fp=$(vm_field "deb-$arch" '.host_keys[] | select(.type == "ssh-ed25519") | .fingerprint')
	expect "deb-$arch serves the same host key" "$fp" \
		"$(vssh "deb-$arch" 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d" " -f2')"
done

for arch in x64 arm64; do
	loam vm rm "deb-$arch" >/dev/null || bad "rm deb-$arch"
done
until_true 120 "both VMs destroyed" bash -c "! $bin/loam vm show deb-x64 --json >/dev/null 2>&1 &&
	! $bin/loam vm show deb-arm64 --json >/dev/null 2>&1"
finish
