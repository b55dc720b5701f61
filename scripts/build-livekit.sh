#!/usr/bin/env bash
# Builds the pinned LiveKit SFU (github.com/livekit/livekit-server v1.13.5,
# Apache-2.0) from the wrapper module in tools/livekit, pure Go
# (CGO_ENABLED=0), into ./.cache/bin/livekit-server. Idempotent: when the
# binary exists and was built from the current tools/livekit/go.{mod,sum}, it
# does nothing. The wrapper module keeps livekit-server (and its pion
# versions) out of mxcall's own go.mod; tools/livekit/go.mod says why the
# version is pinned at v1.13.5.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/.cache/bin"
mod="$root/tools/livekit"

stamp="$bin/.livekit.stamp"
want="$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -d' ' -f1)"
if [ -x "$bin/livekit-server" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

mkdir -p "$bin"
echo "building livekit-server v1.13.5 into $bin" >&2
(cd "$mod" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags="-s -w" -o "$bin/livekit-server.tmp" \
  github.com/livekit/livekit-server/cmd/server)
mv "$bin/livekit-server.tmp" "$bin/livekit-server"
echo "$want" >"$stamp"
