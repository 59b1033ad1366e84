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
if ! clang-tidy -p build --quiet "${tidy_files[@]}" 2>/dev/null | grep -E 'warning:|error:'; then
	:
else
	status=1
fi
exit $status
