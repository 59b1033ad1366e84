#!/usr/bin/env bash
# `make torture`: the long tiers of issue 7 and the
# results table docs/reliability.md. Each tier prints what it runs; a tier
# that fails is recorded as failed and the others still run. Exit status is
# non-zero when any tier failed. Budget: well under 60 minutes on 2 cores.
#
#   1. every libFuzzer target for TORTURE_FUZZ_SECONDS (60) from its
#      committed corpus (new inputs go to a temp dir, not the tree);
#   2. `loam bench alloc --clients 16` on SQLite and on a throwaway
#      PostgreSQL cluster (tests/pg.sh): concurrent placements, over-commits;
#   3. the engine's crash-resume tests (children SIGKILLed mid-strand, lease
#      take-over) TORTURE_ENGINE_RUNS (10) times on SQLite and half as many
#      on PostgreSQL;
#   4. the security tests (auth, constant-time compare, field checks);
#   5. valgrind memcheck of the release loamd under the API/CLI integration
#      test (tests/api/api_test.py);
#   6. the crash harness with TORTURE_KILLS (100) SIGKILLs of loamd
#      (scripts/crash.sh), hosts that go away (tests/crash/host_away.sh),
#      and two loamd on one PostgreSQL (tests/multiworker/two_loamd.sh);
#   7. the CTest tests labelled `torture`, which `make check` leaves out:
#      the debian-12 image booted on both arches under TCG and logged into
#      without loam (tests/images/debian_boot.sh, minutes per arch).
#
# Needs: scripts/build.sh release and check and the artifact store (make
# torture builds all three, as make check does).
# TORTURE_TIERS="fuzz bench engine security valgrind crash hosts multiworker images"
# picks tiers;
# TORTURE_OUT picks the table's path (default docs/reliability.md).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
fuzz_secs=${TORTURE_FUZZ_SECONDS:-60}
engine_runs=${TORTURE_ENGINE_RUNS:-10}
out_md=${TORTURE_OUT:-docs/reliability.md}
check_dir=build/check
release_bin=build/bin

work=$(mktemp -d /tmp/loam-torture.XXXXXX)
trap 'rm -rf "$work"' EXIT
started=$(date +%s)
status=0
rows=()

# row TEST "WHAT WAS RUN" RUNS "WHAT WAS CHECKED" RESULT PASS|FAIL
row() {
	rows+=("| $1 | $2 | $3 | $4 | $5 | $6 |")
	[[ $6 == PASS || $6 == "later" ]] || status=1
	echo "torture: $1: $5 ($6)"
}

elapsed() { echo $(($(date +%s) - $1)); }

# ---- 1. fuzzing -----------------------------------------------------------
fuzz_one() { # bin
	local bin=$1 name corpus dir execs crashes t0 rc
	name=$(basename "$bin")
	corpus=fuzz/corpus/$name
	dir=$work/fuzz-$name
	mkdir -p "$dir/new" "$dir/art" "$corpus"
	t0=$(date +%s)
	local dict=()
	[[ -f fuzz/dict/$name.dict ]] && dict=(-dict="fuzz/dict/$name.dict")
	"$bin" "${dict[@]}" -max_total_time="$fuzz_secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$dir/art/" -print_final_stats=1 "$dir/new" "$corpus" \
		>"$dir/log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
	crashes=$(find "$dir/art" -type f | wc -l)
	if [[ $rc -ne 0 || $crashes -ne 0 ]]; then
		tail -30 "$dir/log" >&2
		mkdir -p "$root/build/torture-crashes/$name"
		cp "$dir/art/"* "$root/build/torture-crashes/$name/" 2>/dev/null
	fi
	local result
	result="${execs:-0} executions, $crashes crashes in $(elapsed "$t0") s"
	row "fuzz: $name" "libFuzzer (ASan+UBSan) from fuzz/corpus/$name" 1 \
		"no crash, leak, UB, timeout or failed property" "$result" \
		"$([[ $rc -eq 0 && $crashes -eq 0 ]] && echo PASS || echo FAIL)"
}

fuzz_tier() {
	local found=0
	for bin in "$check_dir"/fuzz/*; do
		[[ -x $bin ]] || continue
		found=1
		fuzz_one "$bin"
	done
	((found)) || row "fuzz" "no targets in $check_dir/fuzz" 0 "-" "not built" FAIL
}

# ---- 2. allocator under 16 concurrent clients ------------------------------
bench_one() { # label, extra args...
	local label=$1 json
	shift
	if ! json=$("$release_bin/loam" bench alloc --hosts 1000 --vms 10000 --clients 16 "$@" \
		2>"$work/bench.err"); then
		row "alloc bench, $label" "loam bench alloc --clients 16" 1 "runs" \
			"failed: $(tail -1 "$work/bench.err")" FAIL
		return
	fi
	python3 - "$label" "$json" >"$work/bench.row" <<'PY'
import json, sys
label, j = sys.argv[1], json.loads(sys.argv[2])
l, b = j["loam"], j["baseline"]
ok = j["overcommits"] == 0 and l["errors"] == 0 and b["errors"] == 0
print("alloc bench, %s\t1000 hosts, 10000 VMs, 16 concurrent clients (+%d baseline)\t1\t"
      "over-commits (used > capacity on any host), errors\t"
      "%d placements (%d no capacity), %.0f/s, p99 %d us; %d over-commits, %d errors\t%s"
      % (label, b.get("ran", 0), l["placed"] + b["placed"], l["no_capacity"],
         l["placements_per_s"], l["p99_us"], j["overcommits"], l["errors"] + b["errors"],
         "PASS" if ok else "FAIL"))
PY
	IFS=$'\t' read -r a b c d e f <"$work/bench.row"
	row "$a" "$b" "$c" "$d" "$e" "$f"
}

bench_tier() {
	bench_one SQLite
	if (
		# shellcheck source=tests/pg.sh
		source tests/pg.sh
		loam_pg_start >/dev/null || exit 3
		bench_one PostgreSQL --db "$LOAM_TEST_PG_URL"
		printf '%s\n' "${rows[@]: -1}" >"$work/pg.row"
	); then
		rows+=("$(cat "$work/pg.row")")
		grep -q '| FAIL |$' "$work/pg.row" && status=1
	else
		row "alloc bench, PostgreSQL" "loam bench alloc --clients 16" 1 "runs" \
			"PostgreSQL cluster did not start" FAIL
	fi
}

# ---- 3. engine crash-resume -------------------------------------------------
engine_loop() { # label, runs, command...
	local label=$1 runs=$2 pass=0 t0
	shift 2
	t0=$(date +%s)
	for ((i = 1; i <= runs; i++)); do
		if "$@" >"$work/engine.log" 2>&1; then
			pass=$((pass + 1))
		else
			echo "torture: engine run $i failed:" >&2
			tail -20 "$work/engine.log" >&2
		fi
	done
	row "engine crash-resume, $label" \
		"test_engine_procs: a worker process SIGKILLed inside a strand, resumed by another; a killed worker's lease taken over" \
		"$runs" "strand finishes once, only the killed label re-runs, effects recorded once, lease hand-over" \
		"$pass/$runs runs passed in $(elapsed "$t0") s" \
		"$([[ $pass -eq $runs ]] && echo PASS || echo FAIL)"
}

engine_tier() {
	local bin=$check_dir/tests/test_engine_procs
	if [[ ! -x $bin ]]; then
		row "engine crash-resume" "test_engine_procs" 0 "-" "not built" FAIL
		return
	fi
	engine_loop SQLite "$engine_runs" env LOAM_SOURCE_DIR="$root" "$bin"
	engine_loop PostgreSQL $(((engine_runs + 1) / 2)) env LOAM_SOURCE_DIR="$root" \
		bash tests/with_pg.sh "$bin"
}

# ---- 4. security tests ------------------------------------------------------
security_tier() {
	local t
	for t in test_token test_api_fields; do
		if [[ -x $check_dir/tests/$t ]] && "$check_dir/tests/$t" >"$work/$t.log" 2>&1; then
			row "security: $t" "$(security_what "$t")" 1 "$(security_checked "$t")" \
				"$(tail -1 "$work/$t.log")" PASS
		else
			tail -20 "$work/$t.log" >&2
			row "security: $t" "$(security_what "$t")" 1 "$(security_checked "$t")" \
				"$(tail -1 "$work/$t.log" 2>/dev/null)" FAIL
		fi
	done
}

security_what() {
	case $1 in
	test_token) echo "every route with no, wrong, prefix, longer and other-scheme tokens" ;;
	test_api_fields) echo "over-long, metacharacter, control-char and wrong-type values for every field of every POST/PATCH route" ;;
	esac
}

security_checked() {
	case $1 in
	test_token) echo "401; one CRYPTO_memcmp over all 64 bytes per same-length candidate; token file 0600" ;;
	test_api_fields) echo "400 invalid and every table unchanged" ;;
	esac
}

# ---- 5. valgrind memcheck of loamd under the API integration test -----------
valgrind_tier() {
	local bindir=$work/vg-bin logs=$work/vg-logs t0 rc errors lost summaries
	if ! command -v valgrind >/dev/null; then
		row "valgrind: loamd" "tests/api/api_test.py" 0 "-" "valgrind missing (scripts/deps.sh test)" FAIL
		return
	fi
	mkdir -p "$bindir" "$logs"
	ln -s "$root/$release_bin/loam" "$root/$release_bin/loam-host" "$bindir/"
	# loamd is the release binary under memcheck; the test starts it as usual.
	cat >"$bindir/loamd" <<EOF
#!/bin/sh
exec valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite \\
	--error-exitcode=99 --log-file="$logs/loamd.%p.log" "$root/$release_bin/loamd" "\$@"
EOF
	chmod +x "$bindir/loamd"
	t0=$(date +%s)
	LOAM_BIN_DIR=$bindir LOAM_DIST_DIR=$root/build/dist LOAM_SOURCE_DIR=$root \
		timeout 1800 python3 tests/api/api_test.py >"$work/vg-test.log" 2>&1
	rc=$?
	local runs
	runs=$(find "$logs" -name 'loamd.*.log' | wc -l)
	errors=$(cat "$logs"/loamd.*.log 2>/dev/null | sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' |
		awk '{s += $1} END {print s + 0}')
	lost=$(cat "$logs"/loamd.*.log 2>/dev/null | sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' |
		tr -d , | awk '{s += $1} END {print s + 0}')
	# A log without a summary is a child loamd forked to exec a program
	# (valgrind logs each fork); every loamd the test started ends with one.
	summaries=$(cat "$logs"/loamd.*.log 2>/dev/null | grep -c 'ERROR SUMMARY')
	rm -rf "$root/build/torture-valgrind"
	mkdir -p "$root/build/torture-valgrind"
	cp "$logs"/loamd.*.log "$root/build/torture-valgrind/" 2>/dev/null
	[[ $rc -eq 0 ]] || tail -20 "$work/vg-test.log" >&2
	row "valgrind: loamd" "release loamd under memcheck while tests/api/api_test.py drives the API and CLI" \
		"$summaries loamd runs" "memcheck errors (invalid reads/writes, uninitialised use, definite leaks); the test's own checks" \
		"$errors errors, $lost bytes definitely lost ($((runs - summaries)) forks for spawns not counted; logs in build/torture-valgrind); test: $(tail -1 "$work/vg-test.log") in $(elapsed "$t0") s" \
		"$([[ $rc -eq 0 && $errors -eq 0 && $summaries -gt 0 ]] && echo PASS || echo FAIL)"
}

# ---- 6. crash harness and hosts that go away ---------------------------------
crash_tier() {
	local t0 rc summary
	t0=$(date +%s)
	LOAM_CRASH_RESULT="$work/crash.txt" scripts/crash.sh "${TORTURE_KILLS:-100}" \
		>"$work/crash.log" 2>&1
	rc=$?
	summary=$(cat "$work/crash.txt" 2>/dev/null || tail -2 "$work/crash.log" | head -1)
	[[ $rc -ne 0 ]] && tail -30 "$work/crash.log" >&2
	row "crash harness (item 1)" \
		"cloudify, create, stop, start, destroy under ${TORTURE_KILLS:-100} SIGKILLs of loamd at named fault points, mid-install and random delays" \
		"${TORTURE_KILLS:-100} kills" \
		"every VM running or failed with a reason, none lost or duplicated; used counters = sum over VMs; no orphan VMM, user, dir or temp file" \
		"${summary:-no summary} ($(elapsed "$t0") s)" "$([[ $rc -eq 0 ]] && echo PASS || echo FAIL)"
}

hosts_tier() {
	local t0 rc
	t0=$(date +%s)
	LOAM_BIN_DIR="$root/$check_dir/bin" LOAM_SOURCE_DIR="$root" \
		LOAM_DIST_DIR="$root/build/dist" bash tests/crash/host_away.sh >"$work/hosts.log" 2>&1
	rc=$?
	[[ $rc -ne 0 ]] && tail -30 "$work/hosts.log" >&2
	row "hosts that go away (item 6)" "kill the SSH test host's sshd, create a VM meanwhile, start sshd again" 1 \
		"host unreachable and its VM unavailable; the new VM waits with the reason, then runs elsewhere; both recover" \
		"$(tail -1 "$work/hosts.log") ($(elapsed "$t0") s)" "$([[ $rc -eq 0 ]] && echo PASS || echo FAIL)"
}

multiworker_tier() {
	local t0 rc
	if [[ ! -f tests/multiworker/two_loamd.sh ]]; then
		row "multi-worker (item 2)" "two loamd on one PostgreSQL" "-" "-" \
			"covered at engine level only: see engine crash-resume rows" later
		return
	fi
	t0=$(date +%s)
	LOAM_BIN_DIR="$root/$check_dir/bin" LOAM_SOURCE_DIR="$root" \
		LOAM_DIST_DIR="$root/build/dist" bash tests/multiworker/two_loamd.sh >"$work/mw.log" 2>&1
	rc=$?
	[[ $rc -ne 0 ]] && tail -30 "$work/mw.log" >&2
	row "multi-worker (item 2)" "two loamd on one PostgreSQL cloudify 10 SSH hosts and place VMs; one is SIGKILLed" 1 \
		"each strand step applied once across both; nothing allocated twice; leases handed over" \
		"$(tail -1 "$work/mw.log") ($(elapsed "$t0") s)" "$([[ $rc -eq 0 ]] && echo PASS || echo FAIL)"
}

# ---- the table --------------------------------------------------------------
# Which test covers each security property of issue 7 (all run in make check).
security_map() {
	cat <<'EOF'

## Security properties and the tests that cover them

| Property | Covered by (in `make check`) |
|---|---|
| no token / wrong token (same length, prefix, longer, other scheme) → 401 on every route | `tests/security/test_token.c`, `tests/api/api_test.py` (test_auth, over HTTP and the CLI) |
| token compare is constant time | `tests/security/test_token.c` (CRYPTO_memcmp wrapped: one call over all 64 bytes per same-length candidate, none for other lengths), `tests/security/token_source.sh` (length check then CRYPTO_memcmp; no strcmp/memcmp on a token) |
| token file mode 0600 | `tests/security/test_token.c` (under umask 0; a readable token file is refused), `tests/api/api_test.py` (test_token) |
| VM dirs 0700, each VMM as its own unprivileged user | `tests/vmrun/vm_lifecycle.sh` (dir mode and owner, user's groups only kvm, QEMU's uid is the VM user's, no process left after purge) |
| no system()/popen(), no shell built from data | `tests/security/no_shell.sh`; remote words must be shell-inert: `tests/transport/test_transport_ssh.c` |
| SSH host key mismatch refused | `tests/transport/test_transport_ssh.c` (test_changed_key_refused_and_nothing_runs), `tests/progs/test_cloudify_ssh.c` (test_changed_host_key) |
| sha256 mismatch refused | `tests/artifacts/install.sh` (tampered byte, wrong size: nothing installed), `tests/artifacts/test_host_install.c` |
| every API field length- and charset-checked, nothing written | `tests/security/test_api_fields.c`, `fuzz/fuzz_api_body.c`, `tests/api/api_test.py` (test_bad_input, test_bad_vms) |
EOF
}

# The rows of the previous table whose test this run did not run (a run of
# some tiers, TORTURE_TIERS, re-runs them and keeps the others' results),
# each marked with the commit it ran at.
kept_rows() {
	local old_commit line name
	[[ -n ${TORTURE_TIERS:-} && -f $out_md ]] || return 0
	old_commit=$(sed -n 's/.* at commit \([0-9a-f]*\).*/\1/p' "$out_md" | head -n 1)
	while IFS= read -r line; do
		name=${line#| }
		name=${name%% |*}
		printf '%s\n' "${rows[@]}" | grep -qF "| $name |" && continue
		[[ $line == *"(run at "* ]] && echo "$line" && continue
		awk -F ' [|] ' -v OFS=' | ' -v c="$old_commit" '{ $5 = $5 " (run at " c ")"; print }' <<<"$line"
	done < <(sed -n '/^| Test |/,/^$/p' "$out_md" | grep '^| ' | tail -n +2)
}

write_table() {
	local commit kept
	commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	kept=$(kept_rows)
	{
		echo "# Reliability results"
		echo
		echo "Written by \`make torture\` (scripts/torture.sh); do not edit by hand."
		echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') at commit $commit on $(nproc) cores,"
		echo "in $(elapsed "$started") s. Fuzz targets ran ${fuzz_secs} s each."
		[[ -n $kept ]] && echo "Tiers run: ${TORTURE_TIERS}; the other rows are an earlier run's (its commit in the result)."
		echo
		echo "| Test | What was run | Runs | What was checked | Result | Status |"
		echo "|---|---|---|---|---|---|"
		printf '%s\n' "${rows[@]}"
		[[ -n $kept ]] && echo "$kept"
		security_map
	} >"$out_md"
	echo "torture: wrote $out_md"
}

# ---- 7. slow CTest tests (label torture) -------------------------------------
images_tier() {
	local t0 rc times
	t0=$(date +%s)
	# -V: the per-arch times are in the output of a test that passed
	ctest --test-dir "$check_dir" -L torture -V >"$work/images.log" 2>&1
	rc=$?
	[[ $rc -ne 0 ]] && tail -40 "$work/images.log" >&2
	times=$(grep -o '[a-z0-9]*: LOAM-READY in [0-9.]* s' "$work/images.log" | paste -sd ';' -)
	# A skip (no store, no tool) is not a pass of this tier.
	grep -q '\*\*\*Skipped\|Not Run' "$work/images.log" && rc=1
	row "debian-12 image (issue 12)" \
		"tests/images/debian_boot.sh: each arch's debian-12 image under TCG through its firmware, NoCloud seed" 1 \
		"one LOAM-READY line; SSH login pinned to the console's host keys; uname -m, hostname, df, sudo, cloud-init done" \
		"${times:-no times} ($(elapsed "$t0") s)" "$([[ $rc -eq 0 ]] && echo PASS || echo FAIL)"
}

for tier in ${TORTURE_TIERS:-fuzz bench engine security valgrind crash hosts multiworker images}; do
	"${tier}_tier"
done
write_table
exit $status
