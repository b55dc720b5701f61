// Package rtctest holds what the MatrixRTC integration tests of rtcauth
// and matrixrtc share: the stack's environment (set by
// scripts/test-rtc.sh), LiveKit's client logging kept to warnings, a
// deadline per test, and marked Opus frames that tell who hears whom
// through the SFU. Test code only.
package rtctest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	protoLogger "github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media"
)

// Env is the stack scripts/test-rtc.sh starts on 127.0.0.1.
type Env struct {
	HS        string // MXCALL_HS_URL: the homeserver
	Auth      string // MXCALL_RTC_AUTH_URL: the token service (node 1)
	LiveKit   string // MXCALL_RTC_LIVEKIT_URL: the SFU (node 1)
	APIKey    string // MXCALL_RTC_API_KEY
	APISecret string // MXCALL_RTC_API_SECRET
}

// Setup reads Env and keeps the LiveKit client's logging (and the pion
// inside it, which logs every state change at info level) to warnings and
// errors. Without the stack it exits the test binary with status 2: call
// it from TestMain.
func Setup() Env {
	e := Env{HS: os.Getenv("MXCALL_HS_URL"), Auth: os.Getenv("MXCALL_RTC_AUTH_URL"), LiveKit: os.Getenv("MXCALL_RTC_LIVEKIT_URL"),
		APIKey: os.Getenv("MXCALL_RTC_API_KEY"), APISecret: os.Getenv("MXCALL_RTC_API_SECRET")}
	if e.HS == "" || e.Auth == "" || e.LiveKit == "" || e.APISecret == "" {
		fmt.Fprintln(os.Stderr, "MXCALL_HS_URL / MXCALL_RTC_* not set: run scripts/test-rtc.sh")
		os.Exit(2)
	}
	if l, err := protoLogger.NewZapLogger(&protoLogger.Config{Level: "warn"}); err == nil {
		lksdk.SetLogger(l)
	}
	return e
}

// Guard is the test's context: it fails the test after three minutes
// instead of letting it hang.
func Guard(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// Marker is the bytes that mark identity's media.
func Marker(identity string) []byte { return []byte("mx:" + identity) }

// OpusFrame is a valid Opus packet (TOC 0xF8: CELT fullband 20 ms, one
// frame) whose frame bytes are identity's marker. The SFU forwards Opus
// payloads untouched.
func OpusFrame(identity string) []byte { return append([]byte{0xF8}, Marker(identity)...) }

// RTPReader is a remote track.
type RTPReader interface {
	ReadRTP() (*rtp.Packet, interceptor.Attributes, error)
}

// Read reads r on a goroutine of its own until it fails and hands every
// packet's payload to got.
func Read(r RTPReader, got func(payload []byte)) {
	go func() {
		for {
			pkt, _, err := r.ReadRTP()
			if err != nil {
				return
			}
			got(pkt.Payload)
		}
	}()
}

// CountMarked reads r (see Read) and calls seen for every packet that
// carries identity's marker.
func CountMarked(r RTPReader, identity string, seen func()) {
	want := Marker(identity)
	Read(r, func(payload []byte) {
		if bytes.Contains(payload, want) {
			seen()
		}
	})
}

// Identity is the identity whose OpusFrame payload is.
func Identity(payload []byte) (string, bool) {
	id, ok := bytes.CutPrefix(payload, OpusFrame(""))
	return string(id), ok
}

// Send writes frame every period, on a goroutine of its own, until ctx
// ends or write fails.
func Send(ctx context.Context, write func(media.Sample) error, frame []byte, period time.Duration) {
	go func() {
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if write(media.Sample{Data: frame, Duration: period}) != nil {
					return
				}
			}
		}
	}()
}
