#!/usr/bin/env bash
# Runs one of this folder's Python tests with Debian's python3, whose
# python3-jsonschema, python3-yaml and python3-selenium come from
# scripts/deps.sh (a python3 earlier in PATH may not have them). A missing
# module is a failure of the test's own probe, not a skip.
#   tests/console/py.sh TEST.py [ARGS...]
set -uo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
py=/usr/bin/python3
if ! "$py" -c 'import jsonschema, yaml, selenium' 2>/dev/null; then
	echo "FAIL: $py lacks jsonschema, yaml or selenium; run: scripts/deps.sh test" >&2
	exit 1
fi
test=$1
shift
exec "$py" "$here/$test" "$@"
