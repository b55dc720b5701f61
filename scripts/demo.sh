#!/usr/bin/env bash
# Starts the app. (The embedded homeserver + call partner demo is wired in
# by the demo work; until then this opens the app window.)
set -euo pipefail
cd "$(dirname "$0")/.."
go run .
