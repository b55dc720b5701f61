//go:build tools

// Package livekit pins the LiveKit SFU (github.com/livekit/livekit-server,
// Apache-2.0, v1.13.5) that mxcall's MatrixRTC tests run against. It is a
// separate module so the main module never depends on livekit-server (and
// never gets its pion versions). Build it with scripts/build-livekit.sh.
package livekit

import (
	_ "github.com/livekit/livekit-server/cmd/server"
)
