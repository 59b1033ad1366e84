#!/usr/bin/env bash
# The VM life cycle driven by the static arm64 agent (build/dist) under
# qemu-aarch64-static, as an arm64 host would run it: the same checks as
# vm_lifecycle.sh, for an arm64 VM. The agent spawns the host's own tools
# (useradd, qemu-img, QEMU), which the kernel runs natively. qemu-user
# refuses clone's namespace flags and has no seccomp(2), so the jail here
# lacks its namespaces, minimal root and -sandbox: the learn report (the
# `jail` and `jail_missing` of `loam host show`) must name each part either
# active or missing with its reason, none hidden; the VM runs in what is left of the jail.
set -uo pipefail
agent=${LOAM_DIST_DIR:?}/loam-host-arm64
if [[ ! -x $agent ]]; then
	echo "FAIL: $agent missing (run make)" >&2
	exit 1
fi
command -v qemu-aarch64-static >/dev/null || { echo "FAIL: qemu-aarch64-static missing" >&2; exit 1; }
wrap=$(mktemp -d /tmp/loam-vmrun-dist.XXXXXX)
trap 'rm -rf "$wrap"' EXIT
printf '#!/bin/sh\nexec qemu-aarch64-static %s "$@"\n' "$agent" >"$wrap/loam-host"
chmod +x "$wrap/loam-host"
parts_ok=0
"$wrap/loam-host" learn --storage-dir "$wrap" >"$wrap/facts.json" || parts_ok=1
python3 - "$wrap/facts.json" <<'PY' || parts_ok=1
import json, re, sys
f = json.load(open(sys.argv[1]))
active = f["jail"].split(", ")
missing = {m.split(": ", 1)[0]: m.split(": ", 1)[1] for m in f["jail_missing"]}
print("info: the emulated host's jail:", f["jail"], file=sys.stderr)
for part, why in missing.items():
    print(f"info: left out: {part}: {why}", file=sys.stderr)
bad = []
for part in ("sandbox", "mountns", "pidns", "ipcns", "netns", "pivot_root"):
    if (part in active) == (part in missing):
        bad.append(f"{part} is {'both active and missing' if part in active else 'hidden'}")
    elif part not in ("pivot_root", "sandbox") and part in missing and \
            not re.match(r"clone\(CLONE_NEW[A-Z]+\) failed: \S", missing[part]):
        bad.append(f"{part} lacks the clone failure: {missing[part]}")
    elif part == "sandbox" and part in missing and \
            not re.match(r"seccomp\(SECCOMP_SET_MODE_FILTER, TSYNC\) failed: \S", missing[part]):
        bad.append(f"sandbox lacks the seccomp failure: {missing[part]}")
    elif part in missing and not missing[part]:
        bad.append(f"{part} lacks a reason")
for part in ("rlimits",):
    if part not in active:
        bad.append(f"{part} (needs no namespace) is not active")
if bad:
    print("FAIL: jail facts: " + "; ".join(bad), file=sys.stderr)
    sys.exit(1)
PY
LOAM_BIN_DIR=$wrap LOAM_VMRUN_ARCHES=arm64 bash "$(dirname "$0")/vm_lifecycle.sh"
rc=$?
[[ $parts_ok -eq 0 ]] || { echo "FAIL: the emulated host's jail facts (above)" >&2; exit 1; }
exit "$rc"
