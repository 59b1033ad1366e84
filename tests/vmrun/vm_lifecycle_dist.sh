#!/usr/bin/env bash
# The VM life cycle driven by the static arm64 agent (build/dist) under
# qemu-aarch64-static, as an arm64 host would run it: the same checks as
# vm_lifecycle.sh, for an arm64 VM. The agent spawns the host's own tools
# (useradd, qemu-img, QEMU), which the kernel runs natively.
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
LOAM_BIN_DIR=$wrap LOAM_VMRUN_ARCHES=arm64 bash "$(dirname "$0")/vm_lifecycle.sh"
