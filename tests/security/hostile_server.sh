#!/usr/bin/env bash
# The CLI strips control characters from everything a server sends
# (hostile_server.py).
set -uo pipefail
exec python3 "$(dirname "$0")/hostile_server.py" "$@"
