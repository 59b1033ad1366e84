#!/usr/bin/env bash
# Stops the SSH test hosts started in DIR and removes their chroot; see
# ssh-hosts.sh.   tests/hosts/stop-ssh-hosts.sh DIR
exec bash "$(dirname "$0")/ssh-hosts.sh" stop "$@"
