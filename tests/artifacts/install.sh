#!/usr/bin/env bash
# `loam-host install` against a real HTTP server (python3 -m http.server on a
# free port, serving a small temp store): correct install, idempotent second
# run, a tampered byte and a wrong size (fail naming component, version, host
# and both digests, nothing left in the install path), cleanup of an
# interrupted download, a bundle's `depends` (present; missing, so the real
# apt-get runs for a package dpkg-query does not see; no dpkg: unavailable),
# requests that try to install elsewhere than PREFIX/c/n/v/a (refused), and
# malformed requests. Then runs test_artifact_host_install (the
# control-plane side, with SQLite and the local transport) against the
# same server.
set -uo pipefail
agent=${LOAM_BIN_DIR:?}/loam-host
tests_bin=$(dirname "$LOAM_BIN_DIR")/tests
tmp=$(mktemp -d /tmp/loam-install.XXXXXX)
server=
cleanup() {
	[[ -n $server ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() {
	echo "FAIL: $*"
	fail=$((fail + 1))
}
# Inverts one byte in place: writing a fixed byte left the file unchanged
# whenever it already held that byte (one run in 256, as seen in CI).
flip_byte() { # file, offset
	local old
	old=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf '%b' "$(printf '\\0%03o' $((255 - old)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
check() { # description, command...
	local what=$1
	shift
	if "$@"; then ok; else bad "$what"; fi
}

# ---- a small store ----------------------------------------------------------
store=$tmp/store
for arch in x64 arm64; do
	mkdir -p "$tmp/fw-$arch" "$store/firmware/edk2/1.0/$arch" "$store/image/g/2.0/$arch"
	head -c 300000 /dev/urandom >"$tmp/fw-$arch/CODE.fd"
	head -c 1000 /dev/urandom >"$tmp/fw-$arch/VARS.fd"
	tar -C "$tmp/fw-$arch" -czf "$store/firmware/edk2/1.0/$arch/edk2.tar.gz" .
	head -c 200000 /dev/urandom >"$store/image/g/2.0/$arch/g.img"
done
# a vmm bundle: bin/ of a VMM, as the QEMU bundles are laid out
mkdir -p "$tmp/q/bin" "$store/vmm/q/1.0/x64"
printf '#!/bin/sh\necho q 1.0\n' >"$tmp/q/bin/qemu-system-x86_64"
chmod 0755 "$tmp/q/bin/qemu-system-x86_64"
tar -C "$tmp/q" -czf "$store/vmm/q/1.0/x64/q.tar.gz" .
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$store" >"$tmp/http.log" 2>&1 &
server=$!
for _ in $(seq 100); do
	port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$tmp/http.log" | head -n 1)
	[[ -n $port ]] && break
	sleep 0.1
done
[[ -n $port ]] || { echo "FAIL: http.server did not start"; exit 1; }
base=http://127.0.0.1:$port

entry() { # component name version arch kind relpath [size_delta]
	local f=$store/$6 sum size
	sum=$(sha256sum "$f" | cut -c1-64)
	size=$(($(stat -c %s "$f") + ${7:-0}))
	jq -nc --arg c "$1" --arg n "$2" --arg v "$3" --arg a "$4" --arg k "$5" \
		--arg u "$base/$6" --arg s "$sum" --argjson z "$size" \
		'{component:$c,name:$n,version:$v,arch:$a,kind:$k,url:$u,sha256:$s,size:$z}'
}
request() { # prefix entries...
	local p=$1
	shift
	printf '%s\n' "$@" | jq -sc --arg p "$p" '{prefix:$p, entries:.}'
}
state_of() { jq -r --argjson i "$2" '.results[$i].state' "$1"; }

fw=$(entry firmware edk2 1.0 x64 tarball firmware/edk2/1.0/x64/edk2.tar.gz)
img=$(entry image g 2.0 x64 file image/g/2.0/x64/g.img)
bundle() { # depends (JSON array)
	entry vmm q 1.0 x64 tarball vmm/q/1.0/x64/q.tar.gz | jq -c --argjson d "$1" '. + {depends: $d}'
}
# jq: installed by hand (scripts/deps.sh), so apt-get leaves it as it is
pkg=$(bundle '["libc6", "jq"]')
prefix=$tmp/opt

# ---- correct install, then idempotent --------------------------------------
mkdir -p "$prefix/firmware/edk2/1.0"
touch "$prefix/firmware/edk2/1.0/.x64.part-crashed" # an interrupted run's leftover
request "$prefix" "$fw" "$img" "$pkg" | "$agent" install >"$tmp/r1.json" 2>"$tmp/r1.err"
check "first install exits 0 ($(cat "$tmp/r1.err"))" test $? -eq 0
check "firmware installed" test "$(state_of "$tmp/r1.json" 0)" = installed
check "image installed" test "$(state_of "$tmp/r1.json" 1)" = installed
check "bundle installed" test "$(state_of "$tmp/r1.json" 2)" = installed
check "its packages were there: apt-get not run" \
	test "$(jq -r '.results[2].depends | "\(.state) \(.missing | length)"' "$tmp/r1.json")" = "present 0"
check "the install dir is readable by a VM's user (0755)" \
	test "$(stat -c %a "$prefix/vmm/q/1.0/x64")" = 755
check "the bundle's binary is in place" test -x "$prefix/vmm/q/1.0/x64/bin/qemu-system-x86_64"
check "tarball unpacked in the versioned dir" \
	cmp -s "$tmp/fw-x64/CODE.fd" "$prefix/firmware/edk2/1.0/x64/CODE.fd"
check "file in its versioned dir" cmp -s "$store/image/g/2.0/x64/g.img" "$prefix/image/g/2.0/x64/g.img"
check "result path of the file" \
	test "$(jq -r '.results[1].path' "$tmp/r1.json")" = "$prefix/image/g/2.0/x64/g.img"
check "interrupted download cleaned up" test ! -e "$prefix/firmware/edk2/1.0/.x64.part-crashed"
check "no temp files left" test -z "$(find "$prefix" -name '.*.part-*' -o -name '.*.stage-*')"
check "host named in the result" test "$(jq -r .host "$tmp/r1.json")" = "$(hostname)"

request "$prefix" "$fw" "$img" "$pkg" | "$agent" install >"$tmp/r2.json"
check "second run exits 0" test $? -eq 0
check "second run: all already" test "$(jq -r '[.results[].state] | unique | join(",")' "$tmp/r2.json")" = already

# A file damaged on the host is noticed and replaced.
flip_byte "$prefix/image/g/2.0/x64/g.img" 10
request "$prefix" "$img" | "$agent" install >"$tmp/r3.json"
check "damaged file reinstalled" test "$(state_of "$tmp/r3.json" 0)" = installed
check "damaged file repaired" cmp -s "$store/image/g/2.0/x64/g.img" "$prefix/image/g/2.0/x64/g.img"

# ---- tampering and wrong size -------------------------------------------
good_sum=$(jq -r .sha256 <<<"$fw")
cp "$store/firmware/edk2/1.0/x64/edk2.tar.gz" "$tmp/edk2.orig"
flip_byte "$store/firmware/edk2/1.0/x64/edk2.tar.gz" 100
bad_sum=$(sha256sum "$store/firmware/edk2/1.0/x64/edk2.tar.gz" | cut -c1-64)
p2=$tmp/opt2
request "$p2" "$fw" | "$agent" install >"$tmp/t.json"
check "tampered install exits 1" test $? -eq 1
err=$(jq -r '.results[0].error' "$tmp/t.json")
check "tampered: failed" test "$(state_of "$tmp/t.json" 0)" = failed
for word in firmware "version 1.0" "host $(hostname)" "$good_sum" "$bad_sum"; do
	check "tampered error names '$word': $err" grep -qF -- "$word" <<<"$err"
done
check "tampered: nothing in the install path" test ! -e "$p2/firmware/edk2/1.0/x64"
check "tampered: no temp files" test -z "$(find "$p2" -name '.*' 2>/dev/null)"
cp "$tmp/edk2.orig" "$store/firmware/edk2/1.0/x64/edk2.tar.gz"

big=$(entry image g 2.0 arm64 file image/g/2.0/arm64/g.img 1)
request "$p2" "$big" | "$agent" install >"$tmp/s.json"
check "wrong size exits 1" test $? -eq 1
check "wrong size named: $(jq -r '.results[0].error' "$tmp/s.json")" \
	grep -q "size mismatch" <<<"$(jq -r '.results[0].error' "$tmp/s.json")"
check "wrong size: nothing installed" test ! -e "$p2/image/g/2.0/arm64"

# ---- a package dpkg-query does not see: the real apt-get runs ---------------
# dpkg-query reads a copy of dpkg's database without jq (DPKG_ADMINDIR); the
# agent asks apt-get (which reads the real one, --no-upgrade) to install it:
# jq is there, so nothing is fetched and nothing changes.
admin=$tmp/dpkg-admin
mkdir -p "$admin/updates" "$admin/info"
awk -v RS= -v ORS='\n\n' '!/^Package: jq\n/' /var/lib/dpkg/status >"$admin/status"
jq_before=$(dpkg-query -W -f '${Version} ${db:Status-Status}' jq)
check "running as root (apt-get takes dpkg's lock)" test "$EUID" -eq 0
request "$prefix" "$pkg" | DPKG_ADMINDIR=$admin "$agent" install >"$tmp/apt.json" 2>"$tmp/apt.err"
check "missing package: exit 0 ($(cat "$tmp/apt.err"))" test $? -eq 0
check "missing package: apt-get installed it: $(jq -c '.results[0].depends' "$tmp/apt.json")" \
	test "$(jq -r '.results[0].depends | "\(.state) \(.missing | join(","))"' "$tmp/apt.json")" = "installed jq"
check "missing package: the bundle is already there" test "$(state_of "$tmp/apt.json" 0)" = already
check "apt-get changed nothing" test "$(dpkg-query -W -f '${Version} ${db:Status-Status}' jq)" = "$jq_before"

# ---- a host without dpkg (like the busybox arm64 test host) ----------------
mkdir -p "$tmp/bin"
for t in curl tar gzip sync; do ln -s "$(command -v $t)" "$tmp/bin/$t"; done
request "$tmp/opt3" "$pkg" "$(entry firmware edk2 1.0 arm64 tarball firmware/edk2/1.0/arm64/edk2.tar.gz)" |
	PATH=$tmp/bin "$agent" install >"$tmp/u.json"
check "no dpkg: exit 0" test $? -eq 0
check "no dpkg: bundle unavailable" test "$(state_of "$tmp/u.json" 0)" = unavailable
check "no dpkg: the reason names the packages: $(jq -r '.results[0].error' "$tmp/u.json")" \
	grep -q "no dpkg-query.*libc6 jq" <<<"$(jq -r '.results[0].error' "$tmp/u.json")"
check "no dpkg: the bundle's files are in place" test -x "$tmp/opt3/vmm/q/1.0/x64/bin/qemu-system-x86_64"
check "no dpkg: files still install" test "$(state_of "$tmp/u.json" 1)" = installed

# ---- the static arm64 agent, under qemu-user, on a host without dpkg -------
arm_agent=${LOAM_DIST_DIR:-}/loam-host-arm64
if [[ -x $arm_agent && -x /usr/bin/qemu-aarch64-static ]]; then
	request "$tmp/opt5" "$pkg" "$(entry firmware edk2 1.0 arm64 tarball firmware/edk2/1.0/arm64/edk2.tar.gz)" |
		PATH=$tmp/bin /usr/bin/qemu-aarch64-static "$arm_agent" install >"$tmp/a.json"
	check "arm64 agent: exit 0" test $? -eq 0
	check "arm64 agent: bundle unavailable" test "$(state_of "$tmp/a.json" 0)" = unavailable
	check "arm64 agent: firmware installed" cmp -s "$tmp/fw-arm64/CODE.fd" "$tmp/opt5/firmware/edk2/1.0/arm64/CODE.fd"
else
	check "the arm64 dist agent and qemu-aarch64-static are there (make; scripts/deps.sh test)" false
fi

# ---- malformed requests change nothing ---------------------------------------
for mangle in '.sha256="abc"' '.arch="amd64"' '.url="file:///etc/passwd"' '.version="../x"' \
	'.component="agent"' '.size=-1'; do
	bad_entry=$(jq -c "$mangle" <<<"$fw")
	request "$tmp/opt4" "$bad_entry" | "$agent" install >/dev/null 2>"$tmp/m.err"
	check "malformed ($mangle) exits 2" test $? -eq 2
	check "malformed ($mangle) changes nothing" test ! -e "$tmp/opt4"
done

# ---- attacks: an artifact lands under PREFIX/c/n/v/a and nowhere else ------
# (issue 15 item 4): no `dest`, no "..", no empty part, no odd prefix.
mkdir -p "$tmp/target"
for mangle in ".dest=\"$tmp/target\"" ".dest=\"$tmp/opt6/x/..\"" '.name=""' '.version=".."' \
	'.version="1.0/../../../target"' '.arch=""' '.component="../target"' \
	'.name="edk2/../../target"'; do
	bad_entry=$(jq -c "$mangle" <<<"$fw")
	request "$tmp/opt6" "$bad_entry" | "$agent" install >/dev/null 2>"$tmp/m.err"
	check "attack ($mangle) exits 2" test $? -eq 2
	check "attack ($mangle) names the field: $(cat "$tmp/m.err")" grep -q "field '" "$tmp/m.err"
	check "attack ($mangle) writes nothing" test -z "$(ls -A "$tmp/target")" -a ! -e "$tmp/opt6"
done
for p in "$tmp/opt6/" "$tmp/opt6/../target" "$tmp/opt6/." "$tmp//opt6" "/" "relative/opt"; do
	request "$p" "$fw" | "$agent" install >/dev/null 2>"$tmp/m.err"
	check "attack (prefix '$p') exits 2" test $? -eq 2
	check "attack (prefix '$p') writes nothing" test -z "$(ls -A "$tmp/target")" -a ! -e "$tmp/opt6"
done

# ---- uninstall: all entries checked before anything is removed -------------
printf '{"prefix":"%s","entries":[{"component":"image","name":"g","version":"2.0","arch":"x64"},
	{"component":"image","name":"g","version":"../..","arch":"x64"}]}' "$prefix" |
	"$agent" uninstall >/dev/null 2>&1
check "uninstall: malformed exits 2" test $? -eq 2
check "uninstall: malformed removes nothing" test -f "$prefix/image/g/2.0/x64/g.img"
printf '{"prefix":"%s","entries":[{"component":"image","name":"g","version":"2.0","arch":"x64"}]}' \
	"$prefix" | "$agent" uninstall >"$tmp/un.json"
check "uninstall: removed" test "$(state_of "$tmp/un.json" 0)" = removed
check "uninstall: dir gone" test ! -e "$prefix/image/g/2.0"
check "uninstall: firmware kept" test -f "$prefix/firmware/edk2/1.0/x64/CODE.fd"

# ---- the control-plane side -------------------------------------------------
if [[ -x $tests_bin/test_artifact_host_install ]]; then
	LOAM_TEST_STORE=$store LOAM_TEST_BASE_URL=$base LOAM_TEST_AGENT=$agent \
		"$tests_bin/test_artifact_host_install"
	check "test_artifact_host_install" test $? -eq 0
	if command -v pg_ctlcluster >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
		LOAM_TEST_STORE=$store LOAM_TEST_BASE_URL=$base LOAM_TEST_AGENT=$agent \
			bash "${LOAM_SOURCE_DIR:?}/tests/with_pg.sh" "$tests_bin/test_artifact_host_install"
		check "test_artifact_host_install on PostgreSQL" test $? -eq 0
	else check "PostgreSQL is installed (scripts/deps.sh test)" false
	fi
else
	bad "missing $tests_bin/test_artifact_host_install"
fi

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
