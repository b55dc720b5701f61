//go:build integration

package matrixrtc_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/mxcall/mxcall/internal/rtctest"
	"github.com/mxcall/mxcall/matrixrtc"
)

// countingVideo is a VP8 track that counts the key frames asked of it.
type countingVideo struct {
	*webrtc.TrackLocalStaticSample
	asked atomic.Int64
}

func (c *countingVideo) RequestKeyframe() { c.asked.Add(1) }

// vp8Key is a VP8 key frame as far as the SFU looks (frame tag with the
// P bit clear, start code, 16x16): every frame sent is one, so the SFU
// itself never needs to ask for one.
var vp8Key = []byte{0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x10, 0x00, 0x10, 0x00, 0, 0, 0, 0}

// TestRemoteKeyframeRequestReachesThePublisher: a subscriber's
// RemoteTrack.RequestKeyframe reaches the publisher's track through the
// SFU (with one peer connection for both directions, lksdk's own PLI
// writer has no connection to write on).
func TestRemoteKeyframeRequestReachesThePublisher(t *testing.T) {
	ctx := rtctest.Guard(t)
	alice, bob := register(ctx, t, "alice"), register(ctx, t, "bob")
	room := alice.createRoom(ctx, t, map[string]any{"events": map[string]any{matrixrtc.TypeCallMember: 0}})
	bob.joinRoom(ctx, t, room)
	tr, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "cam-alice", "stream-alice")
	if err != nil {
		t.Fatal(err)
	}
	video := &countingVideo{TrackLocalStaticSample: tr}
	discovery := matrixrtc.Discovery{Configured: []matrixrtc.Transport{{Type: matrixrtc.TransportLiveKit, ServiceURL: authURL}}}
	sa, err := matrixrtc.NewSession(matrixrtc.SessionConfig{Matrix: alice, RoomID: room, Intent: "video", Tracks: []webrtc.TrackLocal{video}, Discovery: discovery})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sa.Close() })
	got := make(chan matrixrtc.RemoteTrack, 4)
	sb, err := matrixrtc.NewSession(matrixrtc.SessionConfig{Matrix: bob, RoomID: room, Intent: "video", Discovery: discovery,
		OnRemoteTrack: func(rt matrixrtc.RemoteTrack) {
			if rt.Track.Kind() == webrtc.RTPCodecTypeVideo {
				got <- rt
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	for _, s := range []*matrixrtc.Session{sa, sb} {
		if err := s.Join(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	sendSamples(sendCtx, tr, vp8Key, 33*time.Millisecond)
	var rt matrixrtc.RemoteTrack
	select {
	case rt = <-got:
	case <-ctx.Done():
		t.Fatal("bob got no video")
	}
	go func() { // drain, as a sink would
		for {
			if _, _, err := rt.Track.ReadRTP(); err != nil {
				return
			}
		}
	}()
	time.Sleep(time.Second) // what the SFU asks for at the subscription is in
	before := video.asked.Load()
	// More than the SFU's key frame throttle apart (LiveKit: up to 1 s).
	const asks = 4
	for i := 0; i < asks; i++ {
		rt.RequestKeyframe()
		select {
		case <-time.After(1200 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	if n := video.asked.Load() - before; n < asks/2 {
		t.Fatalf("%d of bob's %d key frame requests reached alice's track", n, asks)
	}
}

// TestMuteReachesTheOthers: SetMuted on alice's session shows as a muted
// microphone in bob's participant list, and unmuting shows again.
func TestMuteReachesTheOthers(t *testing.T) {
	ctx := rtctest.Guard(t)
	alice, bob := register(ctx, t, "alice"), register(ctx, t, "bob")
	room := alice.createRoom(ctx, t, map[string]any{"events": map[string]any{matrixrtc.TypeCallMember: 0}})
	bob.joinRoom(ctx, t, room)
	ma := newMember(t, "alice", alice, room, 0)
	seen := make(chan []matrixrtc.Participant, 64)
	discovery := matrixrtc.Discovery{Configured: []matrixrtc.Transport{{Type: matrixrtc.TransportLiveKit, ServiceURL: authURL}}}
	sb, err := matrixrtc.NewSession(matrixrtc.SessionConfig{Matrix: bob, RoomID: room, Intent: "audio", Discovery: discovery,
		OnParticipants: func(ps []matrixrtc.Participant) { seen <- ps }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	for _, s := range []*matrixrtc.Session{ma.s, sb} {
		if err := s.Join(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	ma.send(sendCtx)
	wait := func(what string, muted bool) {
		t.Helper()
		for {
			select {
			case ps := <-seen:
				for _, p := range ps {
					if p.UserID == alice.user && p.AudioMuted == muted {
						return
					}
				}
			case <-ctx.Done():
				t.Fatalf("bob never saw alice %s", what)
			}
		}
	}
	wait("with her microphone on", false)
	if err := ma.s.SetMuted(webrtc.RTPCodecTypeAudio, true); err != nil {
		t.Fatal(err)
	}
	wait("muted", true)
	if err := ma.s.SetMuted(webrtc.RTPCodecTypeAudio, false); err != nil {
		t.Fatal(err)
	}
	wait("unmuted again", false)
}
