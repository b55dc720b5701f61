package main

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/mxcall/mxcall/rtcauth"
)

func TestRunRefusesBadConfig(t *testing.T) {
	for _, k := range []string{"LIVEKIT_URL", "LIVEKIT_KEY", "LIVEKIT_SECRET", "LIVEKIT_SECRET_FILE", "MXCALL_RTC_HOMESERVERS", "MXCALL_RTC_LISTEN", "MXCALL_RTC_TOKEN_TTL"} {
		t.Setenv(k, "")
	}
	ok := []string{"-listen", "127.0.0.1:0", "-livekit-url", "ws://127.0.0.1:7880", "-livekit-key", "k", "-livekit-secret", "s", "-homeservers", "localhost=http://127.0.0.1:8008"}
	with := func(extra ...string) []string { return append(append([]string{}, ok...), extra...) }
	tests := []struct {
		name      string
		args      []string
		errConfig bool
	}{
		{"unknown flag", with("-nope"), false},
		{"no homeservers", with("-homeservers", ""), true},
		{"bad homeserver URL", with("-homeservers", "a=ftp://x"), true},
		{"no LiveKit URL", with("-livekit-url", ""), true},
		{"no key", with("-livekit-key", ""), true},
		{"no secret", with("-livekit-secret", ""), true},
		{"missing secret file", with("-livekit-secret-file", filepath.Join(t.TempDir(), "none")), false},
		{"bad TTL", with("-token-ttl", "soon"), false},
		{"bad listen address", with("-listen", "nohost:-1"), false},
	}
	for _, tt := range tests {
		err := run(tt.args)
		if err == nil {
			t.Errorf("%s: run succeeded", tt.name)
			continue
		}
		if tt.errConfig && !errors.Is(err, rtcauth.ErrConfig) {
			t.Errorf("%s: err %v, want ErrConfig", tt.name, err)
		}
	}
}
