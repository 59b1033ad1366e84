#!/usr/bin/env bash
# Real guests on loam's per-VM networks (docs/network.md), both arches
# under TCG, through the agent's verbs: two tiny-image VMs per arch on one
# host pool get their addresses by DHCP and router advertisements and
# print them (LOAM-NET), which must match their specs; the host reaches
# each on 22 (IPv4 and IPv6), reaches 8080 only once vm-net opens it and
# no more after it closes it; guest A cannot reach guest B (TCP and ping
# fail) while it reaches its own gateway; a guest that changes its MAC, or
# its IPv4 address, is dropped by the guard (counted) and loses the host;
# purge leaves no namespace, veth, route or dnsmasq. Egress stays off: no
# packet leaves this machine (the guests have no route out and the
# forward chain drops anything new from them). Runs as root.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
root=${LOAM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
agent=${LOAM_BIN_DIR:?}/loam-host
store=${LOAM_ARTIFACT_STORE:-$root/build/artifacts/store}
require_store "$store"
[[ $(id -u) == 0 ]] || { echo "SKIP: a VM's network is made as root"; exit 77; }
for t in curl ip nft dnsmasq python3 setpriv; do
	command -v "$t" >/dev/null || { echo "FAIL: $t is missing (scripts/deps.sh)" >&2; exit 1; }
done

setup_state guestnet

unpack() { store_unpack "$store" "$state/art" "$@"; } # component name arch

pool=10.252.0.0/29
host_prefix=fd00:252::/48
declare -A machine=([x64]=x86_64 [arm64]=aarch64)
declare -A fwfile=([x64]=OVMF [arm64]=AAVMF)
declare -A slot_of=()

mac_of() { printf '02:4c:4e:00:00:%02x' "$1"; }
ipv4_of() { echo "10.252.0.$1"; }
prefix_of() { printf 'fd00:252:0:%x::/64' "$1"; }
# The EUI-64 address the guest takes by SLAAC, written out in full as
# the tiny image prints it.
ipv6_of() {
	python3 -c 'import ipaddress, sys
slot, mac = int(sys.argv[1]), bytes.fromhex(sys.argv[2].replace(":", ""))
eui = bytes([mac[0] ^ 2]) + mac[1:3] + b"\xff\xfe" + mac[3:]
a = ipaddress.IPv6Address(bytes.fromhex("fd000252%08x" % slot) + eui)
print(a.exploded)' "$1" "$(mac_of "$1")"
}

net_json() { # slot open_ports_json
	printf '{"mac":"%s","queues":1,"ipv4":"%s","ipv4_pool":"%s","ipv6":"%s","ipv6_prefix":"%s","host_ipv6_prefix":"%s","egress":false,"open_ports":%s}' \
		"$(mac_of "$1")" "$(ipv4_of "$1")" "$pool" "$(ipv6_of "$1")" "$(prefix_of "$1")" \
		"$host_prefix" "$2"
}

spec() { # id arch img slot fw
	local kernel=$3/vmlinuz
	[[ $2 == x64 && -f $3/vmlinux ]] && kernel=$3/vmlinux
	cat <<JSON
{"id":"$1","name":"net-$1","arch":"$2","vcpus":1,"memory_mib":256,"hugepages":false,"kvm":false,
 "image":"$(ls "$3"/loam-tiny.*.img)","fw_code":"$5/${fwfile[$2]}_CODE.fd","fw_vars":"$5/${fwfile[$2]}_VARS.fd",
 "seed":{"meta-data":"instance-id: $1\nlocal-hostname: net-$1\n","user-data":"#cloud-config\n",
         "network-config":"version: 2\n"},
 "direct_kernel":{"kernel":"$kernel","initrd":"$3/initrd.img","cmdline":"$(cat "$3/cmdline")","firmware":false},
 "net":$(net_json "$4" '[]')}
JSON
}

alive() { [[ $(awk '/^State:/{print $2}' "/proc/$1/status" 2>/dev/null) =~ ^[^ZX]$ ]]; }

# vm-start ends every leftover process of the VM's user but the dnsmasq
# vm-prep started for it (found by the pid file in root's net dir): it is
# neither killed nor made again. A leftover that passes itself off as that
# dnsmasq (its name and --conf-file in its argv) is still killed.
boot() { # id arch img slot fw
	ids+=("$1")
	slot_of[$1]=$4
	local out uid dm fake
	out=$(spec "$@" | "$agent" vm-prep --state-dir "$state") || { bad "$1: vm-prep failed"; return; }
	uid=$(jget uid <<<"$out")
	dm=$(cat "$state/net/$1/dnsmasq.pid")
	setpriv --reuid="$uid" --regid="$(id -g "$uid")" --clear-groups --no-new-privs \
		python3 -c 'import sys, time; sys.argv[0] = "dnsmasq"; time.sleep(3600)' \
		"--conf-file=$state/net/$1/dnsmasq.conf" </dev/null >/dev/null 2>&1 &
	fake=$!
	"$agent" vm-start "$1" --state-dir "$state" >/dev/null || bad "$1: vm-start failed"
	expect "$1: vm-start keeps the dnsmasq of vm-prep" "$dm" "$(cat "$state/net/$1/dnsmasq.pid")"
	alive "$dm" && ok || bad "$1: the dnsmasq of vm-prep is gone after vm-start"
	if alive "$fake"; then
		bad "$1: a process passing itself off as dnsmasq survives vm-start"
		kill -9 "$fake"
	else
		ok
	fi
	wait "$fake" 2>/dev/null
}

netns_of() { echo "loam-$1"; }
spoofed() { ip netns exec "$(netns_of "$1")" nft list counter netdev loam_guard spoofed |
	sed -n 's/.*packets \([0-9]*\).*/\1/p'; }
get() { curl -s -g --max-time 5 "$@"; }

slot=0
for arch in x64 arm64; do
	img=$(unpack image loam-tiny "$arch") || { bad "no $arch image in $store"; continue; }
	fw=$(unpack firmware edk2 "$arch") || { bad "no $arch firmware in $store"; continue; }
	for role in a b; do
		slot=$((slot + 1))
		boot "n$role$arch$suffix" "$arch" "$img" "$slot" "$fw"
	done
done
expect "guests started (two per arch)" 4 "${#ids[@]}"

for id in "${ids[@]}"; do
	out=$("$agent" vm-wait-ready "$id" --state-dir "$state" --timeout 300)
	expect "$id ready" true "$(jget ready <<<"$out")"
	s=${slot_of[$id]}
	line=$(grep -a -m1 'LOAM-NET ' "$state/vms/$id/serial.log" | tr -d '\r')
	contains "$id MAC" "mac=$(mac_of "$s")" "$line"
	contains "$id IPv4 by DHCP" "ipv4=$(ipv4_of "$s") " "$line"
	contains "$id IPv6 by RA" "ipv6=$(ipv6_of "$s")" "$line"
done

for arch in x64 arm64; do
	a=na$arch$suffix b=nb$arch$suffix
	[[ -n ${slot_of[$a]:-} && -n ${slot_of[$b]:-} ]] || continue
	va=$(ipv4_of "${slot_of[$a]}") vb=$(ipv4_of "${slot_of[$b]}")
	expect "$arch: the host reaches A on 22" "loam-tiny ${machine[$arch]}" "$(get "http://$va:22/")"
	expect "$arch: ... over IPv6" "loam-tiny ${machine[$arch]}" \
		"$(get "http://[$(ipv6_of "${slot_of[$a]}")]:22/")"
	get "http://$va:8080/" >/dev/null && bad "$arch: 8080 open before it was opened" || ok
	net_json "${slot_of[$a]}" '[{"port":8080,"proto":"tcp"}]' |
		"$agent" vm-net "$a" --state-dir "$state" >/dev/null || bad "$arch: vm-net add failed"
	expect "$arch: 8080 once opened" "loam-tiny ${machine[$arch]}" "$(get "http://$va:8080/")"
	net_json "${slot_of[$a]}" '[]' | "$agent" vm-net "$a" --state-dir "$state" >/dev/null ||
		bad "$arch: vm-net rm failed"
	get "http://$va:8080/" >/dev/null && bad "$arch: 8080 still open after rm" || ok
	expect "$arch: A cannot reach B" "tcp=fail ping=fail" "$(get "http://$va:22/cgi-bin/reach?$vb+22")"
	expect "$arch: A reaches its gateway" "tcp=ok ping=ok" \
		"$(get "http://$va:22/cgi-bin/reach?169.254.0.1+53")"
	# A guest that sends from another MAC or another IPv4 address
	before_a=$(spoofed "$a") before_b=$(spoofed "$b")
	get "http://$va:22/cgi-bin/spoof-mac" >/dev/null
	get "http://$vb:22/cgi-bin/spoof-ip" >/dev/null
	sleep 6
	(($(spoofed "$a") > before_a)) && ok || bad "$arch: A's frames from another MAC not dropped"
	(($(spoofed "$b") > before_b)) && ok || bad "$arch: B's packets from another IPv4 not dropped"
	get "http://$va:22/" >/dev/null && bad "$arch: A still reachable with another MAC" || ok
	get "http://$vb:22/" >/dev/null && bad "$arch: B still reachable from another address" || ok
done

for id in "${ids[@]}"; do
	"$agent" vm-purge "$id" --state-dir "$state" >/dev/null || bad "$id: vm-purge failed"
	ip netns list | grep -q "^$(netns_of "$id")\b" && bad "$id: namespace left" || ok
	[[ -e $state/net/$id ]] && bad "$id: $state/net/$id left" || ok
	[[ -z $(ip route show "$(ipv4_of "${slot_of[$id]}")") ]] && ok || bad "$id: host route left"
done
pgrep -f "conf-file=$state/" >/dev/null && bad "a dnsmasq of this test survives" || ok
finish
