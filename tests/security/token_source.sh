#!/usr/bin/env bash
# The API token comparison is constant time, at the source level: the
# function in src/api/ that compares the bearer token checks the length
# first and then compares with CRYPTO_memcmp, and no strcmp/strncmp/memcmp
# ever touches the token anywhere under src/. (test_token checks the same
# by behaviour.)
set -uo pipefail
cd "${LOAM_SOURCE_DIR:?}" || exit 1
git rev-parse --git-dir >/dev/null || { echo "FAIL: $PWD is not a git checkout, so git grep cannot search it" >&2; exit 1; }
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { echo "FAIL: $*" >&2; failed=$((failed + 1)); }

hits=$(grep -ln 'CRYPTO_memcmp' src/api/*.c)
[[ -n $hits ]] && ok || bad "no CRYPTO_memcmp in src/api/"

for f in $hits; do
	# The body of each function that calls CRYPTO_memcmp.
	body=$(awk '/^[a-z].*\(/ { fn = $0; buf = "" } { buf = buf "\n" $0 }
		/^}/ { if (buf ~ /CRYPTO_memcmp/) print buf; buf = "" }' "$f")
	len_line=$(grep -n 'strlen(.*) != ' <<<"$body" | head -1 | cut -d: -f1)
	cmp_line=$(grep -n 'CRYPTO_memcmp' <<<"$body" | head -1 | cut -d: -f1)
	if [[ -n $len_line && -n $cmp_line && $len_line -lt $cmp_line ]]; then ok; else
		bad "$f: no length check before CRYPTO_memcmp"
	fi
	if grep -nE '\b(str(n)?cmp|memcmp|strcasecmp)[[:space:]]*\([^)]*token' <<<"$body"; then
		bad "$f: the token is compared with a short-circuiting function"
	else ok; fi
done

# Nowhere in the tree is a token compared with strcmp/strncmp/memcmp.
if git grep -nE '\b(str(n)?cmp|memcmp|strcasecmp)[[:space:]]*\([^;]*token' -- 'src/*.c' |
	grep -v 'CRYPTO_memcmp'; then
	bad "a token is compared with a short-circuiting function"
else ok; fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
