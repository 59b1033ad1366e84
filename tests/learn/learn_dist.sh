#!/usr/bin/env bash
# The static dist agents learn too: the x64 one natively, the arm64 one under
# qemu-aarch64-static, each printing one valid JSON object with its arch.
# The emulated one says that it is (the facts emulation and
# emulation_missing) and reports no CPU model of the x64 CPU under it.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
dist=${LOAM_DIST_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check_learn() { # name, want_arch, native|emulated, command...
	local name=$1 want=$2 how=$3
	shift 3
	if ! "$@" learn --storage-dir "$tmp/$name" >"$tmp/$name.json" 2>"$tmp/$name.err"; then
		bad "$name learn failed: $(cat "$tmp/$name.err")"
		return
	fi
	python3 -c 'import json,sys
f = json.load(open(sys.argv[1]))
assert f["arch"] == sys.argv[2], f["arch"]
assert type(f["cpus"]) is int and f["cpus"] >= 1
assert isinstance(f["kvm"], bool)
if sys.argv[3] == "native":
    assert "emulation" not in f and "emulation_missing" not in f, f.get("emulation")
    assert f["cpu_model"], "no cpu_model"
else:
    assert "x64 kernel" in f["emulation"], f["emulation"]
    assert f["cpu_model"] == "", f["cpu_model"]
    assert any(m.startswith("cpu_model: ") for m in f["emulation_missing"]), f["emulation_missing"]
' "$tmp/$name.json" "$want" "$how" && ok || bad "$name: $(head -c 400 "$tmp/$name.json")"
}

for a in x64 arm64; do
	[[ -x $dist/loam-host-$a ]] || bad "$dist/loam-host-$a missing (run make)"
done
[[ $(uname -m) == x86_64 ]] && check_learn x64 x64 native "$dist/loam-host-x64"
if command -v qemu-aarch64-static >/dev/null; then
	check_learn arm64 arm64 emulated qemu-aarch64-static "$dist/loam-host-arm64"
	# The fixture trees read the same through the emulated agent.
	out=$(qemu-aarch64-static "$dist/loam-host-arm64" learn --root tests/fixtures/learn/arm64-ampere \
		--storage-dir "$tmp/fx" | python3 -c 'import json,sys; f=json.load(sys.stdin); print(f["arch"], f["cores"], f["memory_gib"])')
	[[ $out == "arm64 80 256" ]] && ok || bad "arm64 agent on the Ampere fixture: $out"
else
	bad "qemu-aarch64-static missing"
fi
finish
