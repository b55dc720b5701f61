#!/usr/bin/env bash
# Builds the pinned homeserver (github.com/matrix-org/dendrite v0.13.8,
# Apache-2.0) from the wrapper module in tools/homeserver, pure Go
# (CGO_ENABLED=0), into ./.cache/bin: dendrite, create-account,
# generate-config, generate-keys. Idempotent: when the binaries exist and
# were built from the current tools/homeserver/go.{mod,sum}, it does nothing.
#
# The wrapper pins modernc.org/sqlite v1.62.0 instead of the v1.29.5 that
# Dendrite names: with v1.29.5 a COMMIT that fails with SQLITE_BUSY under load
# leaves the pooled connection inside its transaction, and every later write
# on it fails with "cannot start a transaction within a transaction" (sync
# and sends stop working for the rest of the run). v1.62.0 rolls back then.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/.cache/bin"
mod="$root/tools/homeserver"
cmds=(dendrite create-account generate-config generate-keys)

stamp="$bin/.homeserver.stamp"
want="$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -d' ' -f1)"
ok=1
for c in "${cmds[@]}"; do [ -x "$bin/$c" ] || ok=0; done
if [ "$ok" = 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

mkdir -p "$bin"
pkgs=()
for c in "${cmds[@]}"; do pkgs+=("github.com/matrix-org/dendrite/cmd/$c"); done
echo "building dendrite v0.13.8 into $bin" >&2
(cd "$mod" && CGO_ENABLED=0 GOBIN="$bin" GOFLAGS=-mod=mod go install -trimpath "${pkgs[@]}")
echo "$want" >"$stamp"
