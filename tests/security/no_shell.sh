#!/usr/bin/env bash
# No shell is ever built from data: the tree has no system() or popen(), no
# exec of a shell with -c, and no spawn of "sh"/"bash" from C code.
set -uo pipefail
cd "${LOAM_SOURCE_DIR:?}"
fails=0
check() { # description, pattern
	local hits
	# Comment lines are skipped: they may name these calls to forbid them.
	hits=$(git grep -nE "$2" -- 'src/*.c' 'src/*.h' 'fuzz/*.c' 'tests/*.c' ':!tests/security/' 2>/dev/null |
		grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/\*|\*|//)')
	if [[ -n $hits ]]; then
		echo "FAIL: $1:" >&2
		echo "$hits" >&2
		fails=$((fails + 1))
	fi
}
check "system() call" '\bsystem[[:space:]]*\('
check "popen() call" '\bpopen[[:space:]]*\('
check "shell -c in an argv" '"(/bin/)?(ba)?sh",[[:space:]]*"-c"'
check "execl of a shell" 'exec[lv]p?[[:space:]]*\([[:space:]]*"/bin/(ba)?sh"'
echo "$((4 - fails)) passed, $fails failed"
[[ $fails -eq 0 ]]
