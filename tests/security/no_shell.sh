#!/usr/bin/env bash
# No shell is ever built from data: the tree has no system() or popen(), no
# exec of a shell with -c, no spawn of "sh"/"bash" (or dash, zsh, ksh) from
# C code, no wordexp(), and no ssh option that hands a command to a local
# shell. (Remote commands over SSH are argv words that must be shell-inert:
# tests/transport/test_transport_ssh.c checks that refusal.)
set -uo pipefail
cd "${LOAM_SOURCE_DIR:?}" || exit 1
git rev-parse --git-dir >/dev/null || { echo "FAIL: $PWD is not a git checkout, so git grep cannot search it" >&2; exit 1; }
fails=0
check() { # description, pattern [pathspec...]
	local hits what=$1 pattern=$2
	shift 2
	(($#)) || set -- 'src/*.c' 'src/*.h' 'fuzz/*.c' 'tests/*.c'
	# Comment lines are skipped: they may name these calls to forbid them.
	hits=$(git grep -nE "$pattern" -- "$@" ':!tests/security/' 2>/dev/null |
		grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/\*|\*|//)')
	if [[ -n $hits ]]; then
		echo "FAIL: $what:" >&2
		echo "$hits" >&2
		fails=$((fails + 1))
	fi
}
check "system() call" '\bsystem[[:space:]]*\('
check "popen() call" '\bpopen[[:space:]]*\('
check "shell -c in an argv" '"(/bin/)?(ba)?sh",[[:space:]]*"-c"'
check "execl of a shell" 'exec[lv]p?[[:space:]]*\([[:space:]]*"/bin/(ba)?sh"'
# Tests may run their helper scripts with bash (an argv, no -c); the
# product code never starts a shell. vm_seed.c names the guest user's login
# shell in the cloud-init seed: data for the guest, never run on the host.
check "a shell named as a program" '"(/usr)?(/bin/)?(ba|da|z|k)?sh"' 'src/*.c' 'src/*.h' \
	':!src/progs/vm_seed.c'
check "wordexp() shell expansion" '\bwordexp[[:space:]]*\('
check "exec of a shell" '\bexec(ve|vpe|le)?[[:space:]]*\([[:space:]]*"[^"]*/(ba|da)?sh"'
check "ssh ProxyCommand or LocalCommand (run by a shell)" '(ProxyCommand|LocalCommand|PermitLocalCommand)'
echo "$((8 - fails)) passed, $fails failed"
[[ $fails -eq 0 ]]
