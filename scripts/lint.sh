#!/usr/bin/env bash
# Static checks: clang-format (no diff), cppcheck, and clang-tidy on every C
# file tracked by git, using the release tree's compile_commands.json; and
# every shell script through shellcheck.
set -euo pipefail
cd "$(dirname "$0")/.."
git rev-parse --git-dir >/dev/null || { echo "lint: $PWD is not a git checkout" >&2; exit 1; }
for t in clang-format cppcheck clang-tidy shellcheck; do command -v "$t" >/dev/null || { echo "lint: $t is missing (scripts/deps.sh test)" >&2; exit 1; }; done
mapfile -t files < <(git ls-files '*.c' '*.h')
status=0

echo "lint: clang-format"
if ! clang-format --dry-run --Werror "${files[@]}" 2>/tmp/loam-format.$$; then
	head -40 /tmp/loam-format.$$
	status=1
fi
rm -f /tmp/loam-format.$$

# cppcheck does not model __attribute__((cleanup)) either, so its leak
# check is off; LeakSanitizer covers leaks in make check.
echo "lint: cppcheck"
mapfile -t cfiles < <(git ls-files '*.c')
if ! cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
	--std=c11 --inline-suppr --suppress=missingIncludeSystem \
	--suppress=memleak -I src \
	-I build/generated "${cfiles[@]}"; then
	status=1
fi

echo "lint: shellcheck"
mapfile -t scripts < <(git ls-files '*.sh')
if ! shellcheck -x -S warning "${scripts[@]}"; then
	status=1
fi

echo "lint: clang-tidy"
[[ -f build/compile_commands.json ]] || scripts/build.sh release >/dev/null
mapfile -t tidy_files < <(git ls-files 'src/*.c')
# Clean results are remembered by content (scripts/lint-tidy.py); the cache
# sits next to the artifact cache so that it outlives the build tree.
tidy_cache=${LOAM_LINT_CACHE:-/var/cache/loam/lint}
mkdir -p "$tidy_cache" 2>/dev/null || tidy_cache=build/lint-cache
if ! scripts/lint-tidy.py build "$tidy_cache" "${tidy_files[@]}"; then
	status=1
fi
exit $status
