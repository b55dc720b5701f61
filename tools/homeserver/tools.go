//go:build tools

// Package homeserver pins the Dendrite homeserver (Apache-2.0, v0.13.8) that
// mxcall's integration tests and demo run against. It is a separate module
// so the main module never depends on Dendrite. Build it with
// scripts/build-homeserver.sh.
package homeserver

import (
	_ "github.com/matrix-org/dendrite/cmd/create-account"
	_ "github.com/matrix-org/dendrite/cmd/dendrite"
	_ "github.com/matrix-org/dendrite/cmd/generate-config"
	_ "github.com/matrix-org/dendrite/cmd/generate-keys"
)
