package rtcauth_test

import (
	"testing"

	lksdk "github.com/livekit/server-sdk-go/v2"
)

// connect is lksdk's entry point; referring to it keeps
// github.com/livekit/server-sdk-go/v2 (the LiveKit client of mxcall's
// MatrixRTC calls) compiling against mxcall's pion versions in every
// `go vet`/`go test`, not only in the integration tests that use it.
var connect = lksdk.ConnectToRoomWithToken

func TestLKSDKVersion(t *testing.T) {
	if lksdk.Version != "2.19.0" {
		t.Errorf("lksdk.Version = %q, want 2.19.0 (the version checked against livekit-server v1.13.5)", lksdk.Version)
	}
	_ = connect
}
