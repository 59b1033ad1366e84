#!/usr/bin/env bash
# 300 half-sent requests from one address must not keep another client from
# its answer in under 100 ms (slow_clients.py).
set -uo pipefail
exec python3 "$(dirname "$0")/slow_clients.py" "$@"
