#!/usr/bin/env bash
# Starts the SSH test hosts in DIR and writes DIR/hosts.env; see ssh-hosts.sh.
#   tests/hosts/start-ssh-hosts.sh DIR [x64|arm64|all]
exec bash "$(dirname "$0")/ssh-hosts.sh" start "$@"
