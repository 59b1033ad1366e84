#!/usr/bin/env bash
# The API over HTTPS (issue 16 item 4), with a test CA this script makes
# with Debian's openssl CLI: loamd --tls-cert/--tls-key serves HTTPS; the
# CLI checks the certificate against --cacert, $LOAM_CACERT or the profile's
# cacert, and refuses it against the system store (the test CA is in none)
# and against another CA; plain HTTP to the TLS port gets no API answer.
# The artifact store's listener stays plain HTTP. Without TLS, loamd
# refuses a non-loopback --listen and says why (before it binds anything).
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
src=${LOAM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${LOAM_BIN_DIR:-$src/build/check/bin}
dist=${LOAM_DIST_DIR:-$src/build/dist}
command -v openssl >/dev/null || {
	bad "openssl (Debian's openssl package, scripts/deps.sh test) is missing"
	finish
}

work=$(mktemp -d /tmp/loam-tls.XXXXXX)
pid=
cleanup() {
	[[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# ---- a CA, and a server certificate for 127.0.0.1 signed by it ----
make_ca() { # dir
	mkdir -p "$1"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=loam test CA" -keyout "$1/ca.key" -out "$1/ca.pem" 2>/dev/null
}
make_ca "$work/ca" || bad "make the test CA"
make_ca "$work/other" || bad "make another CA"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
	-keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null || bad "server key"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$work/ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca/ca.pem" -CAkey "$work/ca/ca.key" \
	-CAcreateserial -days 2 -extfile "$work/ext" -out "$work/server.pem" 2>/dev/null ||
	bad "sign the server certificate"

port=$(free_port)
art=$(free_port)
state=$work/state
mkdir -p "$state"
"$bin/loamd" --state-dir "$state" --listen "127.0.0.1:$port" --artifact-listen "127.0.0.1:$art" \
	--dist-dir "$dist" --artifact-store "$work/store" --tls-cert "$work/server.pem" \
	--tls-key "$work/server.key" >"$work/loamd.log" 2>&1 &
pid=$!
export LOAM_URL=https://127.0.0.1:$port LOAM_STATE_DIR=$state LOAM_CONFIG=$work/no-profile
for ((i = 0; i < 100; i++)); do
	"$bin/loam" --cacert "$work/ca/ca.pem" sizes >/dev/null 2>&1 && break
	sleep 0.1
done

out=$("$bin/loam" --cacert "$work/ca/ca.pem" sizes --json 2>&1)
contains "HTTPS with --cacert" standard-2 "$out"
out=$(LOAM_CACERT=$work/ca/ca.pem "$bin/loam" vm ls 2>&1)
contains "HTTPS with \$LOAM_CACERT" NAME "$out"
printf 'cacert = %s\n' "$work/ca/ca.pem" >"$work/profile"
out=$(LOAM_CONFIG=$work/profile "$bin/loam" vm ls 2>&1)
contains "HTTPS with the profile's cacert" NAME "$out"
out=$("$bin/loam" sizes 2>&1) && bad "the system store trusted the test CA: $out"
contains "an untrusted certificate says what to do" "--cacert" "$out"
out=$("$bin/loam" --cacert "$work/other/ca.pem" sizes 2>&1) && bad "another CA was accepted"
contains "another CA is refused" "certificate" "$out"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/v1/sizes")
[[ $code != 200 ]] && ok || bad "plain HTTP to the TLS port answered 200"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/ca/ca.pem" \
	-H "Authorization: Bearer $(cat "$state/token")" "https://127.0.0.1:$port/v1/sizes")
expect "curl over HTTPS with the CA" 200 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$art/artifacts/none")
expect "the artifact listener stays plain HTTP" 404 "$code"
contains "loamd says it serves https" "listening on https://" "$(cat "$work/loamd.log")"
kill "$pid" && wait "$pid"
expect "loamd stops cleanly" 0 "$?"
pid=

# ---- no TLS: no clear text beyond loopback ----
for listen in 0.0.0.0:0 "[::]:0" 192.0.2.1:0; do
	out=$("$bin/loamd" --state-dir "$work/s2" --listen "$listen" --dist-dir "$dist" 2>&1)
	rc=$?
	expect "loamd --listen $listen without TLS exits 2" 2 "$rc"
	contains "and says why ($listen)" "clear text" "$out"
	contains "and what to do ($listen)" "--insecure-listen" "$out"
done
[[ ! -e $work/s2/loam.db ]] && ok || bad "a refused start made a database"
out=$("$bin/loamd" --state-dir "$work/s3" --listen 127.0.0.1:0 --tls-cert "$work/server.pem" 2>&1)
expect "--tls-cert without --tls-key exits 2" 2 "$?"
finish
