#!/usr/bin/env bash
# Runs a command in a fresh network namespace that has only loopback, so
# no test packet can reach another address. Works as root and, through a
# user namespace, as an ordinary user.
set -euo pipefail
if [ "$(id -u)" -eq 0 ]; then
  exec unshare -n sh -c 'ip link set lo up && exec "$@"' sh "$@"
fi
exec unshare -rn sh -c 'ip link set lo up && exec "$@"' sh "$@"
