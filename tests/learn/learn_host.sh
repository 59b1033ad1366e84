#!/usr/bin/env bash
# `loam-host learn` on this machine, with lscpu as the oracle for CPUs,
# cores, sockets, threads per core and NUMA nodes; every required key must
# be there with the right JSON type, and KVM must be judged false where
# /dev/kvm is PVM or the CPU lacks vmx/svm (this project's machines).
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bin=${LOAM_BIN_DIR:?}/loam-host
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! "$bin" learn --storage-dir "$tmp/storage" >"$tmp/facts.json" 2>"$tmp/err"; then
	bad "learn failed: $(cat "$tmp/err")"
	finish
fi
[[ -d $tmp/storage ]] && ok || bad "storage dir was not created"

fact() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(json.dumps(v) if isinstance(v,bool) else v)' "$tmp/facts.json" "$1"; }

# Types of the keys the control plane stores.
python3 - "$tmp/facts.json" <<'PY' && ok || bad "required keys or types"
import json, sys
f = json.load(open(sys.argv[1]))
ints = ["cpus", "cores", "sockets", "dies", "threads_per_core", "numa_nodes", "memory_gib",
        "hugepages_1g_total", "hugepages_1g_free", "storage_total_gib", "storage_available_gib"]
strs = ["arch", "uname_machine", "memory_source", "storage_dir", "kvm_reason", "cpu_model",
        "os", "kernel"]
bools = ["threads_per_core_uniform", "kvm"]
errors = [k for k in ints if type(f.get(k)) is not int or f[k] < 0]
errors += [k for k in strs if not isinstance(f.get(k), str)]
errors += [k for k in bools if not isinstance(f.get(k), bool)]
errors += [] if isinstance(f.get("sources"), dict) else ["sources"]
errors += [] if f.get("memory_source") in ("dmi", "memory-blocks", "meminfo") else ["memory_source"]
errors += [] if f["cpus"] >= f["cores"] >= f["sockets"] >= 1 and f["memory_gib"] >= 1 else ["sanity"]
if errors:
    print("bad keys:", errors, file=sys.stderr)
    sys.exit(1)
PY

# lscpu -p lists online CPUs; its Core column is a logical core index.
lscpu -p=CPU,CORE,SOCKET,NODE | grep -v '^#' >"$tmp/lscpu.csv"
want_cpus=$(wc -l <"$tmp/lscpu.csv")
want_cores=$(cut -d, -f2 "$tmp/lscpu.csv" | sort -u | wc -l)
want_sockets=$(cut -d, -f3 "$tmp/lscpu.csv" | sort -u | wc -l)
want_nodes=$(cut -d, -f4 "$tmp/lscpu.csv" | grep -v '^$' | sort -u | wc -l)
[[ $want_nodes -ge 1 ]] || want_nodes=1
want_tpc=$(lscpu -J | python3 -c 'import json,sys
for e in json.load(sys.stdin)["lscpu"]:
    if e["field"].startswith("Thread(s) per core"): print(e["data"])')
expect cpus "$want_cpus" "$(fact cpus)"
expect cores "$want_cores" "$(fact cores)"
expect sockets "$want_sockets" "$(fact sockets)"
expect numa_nodes "$want_nodes" "$(fact numa_nodes)"
expect threads_per_core "$want_tpc" "$(fact threads_per_core)"
expect arch "$("$bin" arch)" "$(fact arch)"
expect uname_machine "$(uname -m)" "$(fact uname_machine)"
expect kernel "$(uname -r)" "$(fact kernel)"

# This project's machines: /dev/kvm is kvm_pvm, or the CPU has no vmx/svm.
if [[ -d /sys/module/kvm_pvm ]] || ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
	expect kvm false "$(fact kvm)"
	fact kvm_reason | grep -qE 'kvm_pvm|vmx|svm' && ok || bad "kvm_reason: $(fact kvm_reason)"
else
	echo "note: hardware virtualization here; kvm=$(fact kvm) ($(fact kvm_reason))"
fi

# Bad input: a clear error, exit 2, nothing on stdout.
out=$("$bin" learn --bogus 2>"$tmp/err"); rc=$?
expect "unknown argument status" 2 "$rc"
expect "unknown argument stdout" "" "$out"
grep -q -- "--bogus" "$tmp/err" && ok || bad "unknown argument not named"
out=$("$bin" learn --root "$tmp/none" --storage-dir "$tmp/s2" 2>"$tmp/err"); rc=$?
expect "missing root stdout" "" "$out"
[[ $rc -ne 0 ]] && grep -q "$tmp/none" "$tmp/err" && ok || bad "missing root: rc=$rc $(cat "$tmp/err")"
[[ ! -e $tmp/s2 ]] && ok || bad "a failed learn created its storage dir"

finish
