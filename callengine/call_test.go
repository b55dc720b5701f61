package callengine

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// guard fails the test on leaked goroutines (checked after every cleanup)
// and on hangs.
func guard(t *testing.T) {
	t.Helper()
	lim := test.TimeOut(60 * time.Second)
	t.Cleanup(func() { lim.Stop() })
	t.Cleanup(test.CheckRoutines(t))
}

func TestCallMediaBothWaysAndHangup(t *testing.T) {
	for _, hangupBy := range []string{"caller", "callee"} {
		t.Run("hangup by "+hangupBy, func(t *testing.T) {
			guard(t)
			ctx := context.Background()
			r := newRoom("!r:test")
			alice := r.join(t, "@alice:test")
			bob := r.join(t, "@bob:test")
			am := newTestMedia(t, "alice-stream")
			bm := newTestMedia(t, "bob-stream")

			id, err := alice.eng.PlaceCall(ctx, r.id, bob.userID, true, am.Media)
			if err != nil {
				t.Fatal(err)
			}
			alice.waitState(id, StateInviteSent)
			ring := bob.ringing()
			if ring.ID != id || ring.Peer != alice.userID || ring.Direction != Incoming || !ring.Video {
				t.Fatalf("bob rings with %+v", ring)
			}
			if err := bob.eng.Answer(ctx, id, true, bm.Media); err != nil {
				t.Fatal(err)
			}
			alice.waitState(id, StateConnected)
			bob.waitState(id, StateConnected)
			alice.waitPackets(id, 20)
			bob.waitPackets(id, 20)
			if len(r.eventsOfType(EventSelectAnswer)) != 1 {
				t.Errorf("want one select_answer, got %d", len(r.eventsOfType(EventSelectAnswer)))
			}
			if alice.sawState(StateRinging) {
				t.Error("caller rang for its own invite echo")
			}

			ender, other := alice, bob
			if hangupBy == "callee" {
				ender, other = bob, alice
			}
			if err := ender.eng.Hangup(ctx, id); err != nil {
				t.Fatal(err)
			}
			got := other.waitState(id, StateEnded)
			if got.EndedBy != PartyRemote || got.EndReason != ReasonUserHangup {
				t.Errorf("peer's end: %s/%s", got.EndedBy, got.EndReason)
			}
			mine := ender.waitState(id, StateEnded)
			if mine.EndedBy != PartyLocal || mine.EndReason != ReasonUserHangup {
				t.Errorf("own end: %s/%s", mine.EndedBy, mine.EndReason)
			}
		})
	}
}

// TestArgumentAndStateErrors checks that arguments that can never be
// right give ErrInvalidArgument and actions the call's state forbids give
// ErrWrongState, never the other.
func TestArgumentAndStateErrors(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice := r.join(t, "@alice:test")
	id, err := alice.eng.PlaceCall(ctx, r.id, "@bob:test", false, Media{})
	if err != nil {
		t.Fatal(err)
	}
	alice.waitState(id, StateInviteSent)
	newErr := func(userID string, s Signaller, opts ...Option) error {
		e, err := New(userID, s, opts...)
		if err == nil {
			_ = e.Close()
		}
		return err
	}
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"New without user ID", newErr("", sig{alice}), ErrInvalidArgument},
		{"New without Signaller", newErr("@alice:test", nil), ErrInvalidArgument},
		{"New with a bad party ID", newErr("@alice:test", sig{alice}, WithPartyID("not valid")), ErrInvalidArgument},
		{"ReplaceTrack nil", alice.eng.ReplaceTrack(ctx, id, nil), ErrInvalidArgument},
		{"HangupWithReason unknown", alice.eng.HangupWithReason(ctx, id, "flux_capacitor"), ErrInvalidArgument},
		{"HangupWithReason not on the wire", alice.eng.HangupWithReason(ctx, id, ReasonReplaced), ErrInvalidArgument},
		{"Answer own outgoing call", alice.eng.Answer(ctx, id, false, Media{}), ErrWrongState},
		{"RestartICE before the answer", alice.eng.RestartICE(ctx, id), ErrWrongState},
		{"SetHold before the answer", alice.eng.SetHold(ctx, id, true), ErrWrongState},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, tc.want) {
				t.Fatalf("err = %v, want %v", tc.err, tc.want)
			}
			other := ErrWrongState
			if errors.Is(tc.want, ErrWrongState) {
				other = ErrInvalidArgument
			}
			if errors.Is(tc.err, other) {
				t.Errorf("err = %v is also %v", tc.err, other)
			}
		})
	}
	if err := newErr("@alice:test", sig{alice}, WithPartyID("not valid")); !errors.Is(err, ErrInvalidID) {
		t.Errorf("bad party ID: %v, want it to wrap ErrInvalidID too", err)
	}
	if ci, _ := alice.eng.Call(id); ci.State != StateInviteSent {
		t.Errorf("bad arguments changed the call: %s", ci.State)
	}
	if err := alice.eng.Hangup(ctx, id); err != nil {
		t.Fatal(err)
	}
}

// TestContextErrors checks that an Engine method whose context ends
// returns the context's own error: a deadline is DeadlineExceeded, not
// Canceled.
func TestContextErrors(t *testing.T) {
	guard(t)
	r := newRoom("!r:test")
	alice := r.join(t, "@alice:test")
	id, err := alice.eng.PlaceCall(context.Background(), r.id, "@bob:test", false, Media{})
	if err != nil {
		t.Fatal(err)
	}
	alice.waitState(id, StateInviteSent)
	alice.eng.mu.Lock()
	c := alice.eng.calls[id]
	alice.eng.mu.Unlock()

	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if err := alice.eng.SetAudioMuted(expired, id, true); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("expired context: %v, want DeadlineExceeded", err)
	}
	if ci, _ := alice.eng.Call(id); ci.AudioMuted {
		t.Error("the action ran although its context had already ended")
	}

	// Keep the call's goroutine busy so that the next calls must wait.
	busy, release := make(chan struct{}), make(chan struct{})
	c.post(func() { close(busy); <-release })
	<-busy
	ctx, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if err := alice.eng.SetAudioMuted(ctx, id, true); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		t.Errorf("deadline while waiting: %v, want DeadlineExceeded", err)
	}
	ctx3, cancel3 := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- alice.eng.SetVideoMuted(ctx3, id, true) }()
	cancel3()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want Canceled", err)
	}
	close(release)
	if err := alice.eng.Hangup(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}

// ownTracks are an audio and a video track written until stop, owned by
// the test alone (calltest.Tracks live until the test's cleanup, and pion's
// TrackLocalStaticRTP keeps the last unbound connection's write stream in
// its bindings' spare capacity, which would pin the peer connection).
func ownTracks(t *testing.T, stream string) (Media, func()) {
	t.Helper()
	a, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", stream)
	if err != nil {
		t.Fatal(err)
	}
	v, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", stream)
	if err != nil {
		t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		buf := make([]byte, 100)
		buf[0] = 0x10
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = a.WriteSample(media.Sample{Data: buf, Duration: 20 * time.Millisecond})
				_ = v.WriteSample(media.Sample{Data: buf, Duration: 20 * time.Millisecond})
			}
		}
	}()
	var once sync.Once
	end := func() { once.Do(func() { close(stop); <-done }) }
	t.Cleanup(end)
	return Media{Audio: a, Video: v}, end
}

// An ended call is remembered (late events for it must not ring again),
// but nothing heavy with it: once the call is over, its peer connection
// and the tracks it was given (for mxcall a media.Source with its encoder
// and pictures) must become unreachable, on both sides.
func TestEndedCallReleasesPeerConnectionAndMedia(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice := r.join(t, "@alice:test")
	bob := r.join(t, "@bob:test")
	am, stopA := ownTracks(t, "alice-stream")
	bm, stopB := ownTracks(t, "bob-stream")

	var tracks []weak.Pointer[webrtc.TrackLocalStaticSample]
	for _, m := range []Media{am, bm} {
		tracks = append(tracks, weak.Make(m.Audio.(*webrtc.TrackLocalStaticSample)), weak.Make(m.Video.(*webrtc.TrackLocalStaticSample)))
	}
	id, err := alice.eng.PlaceCall(ctx, r.id, bob.userID, true, am)
	if err != nil {
		t.Fatal(err)
	}
	bob.ringing()
	if err := bob.eng.Answer(ctx, id, true, bm); err != nil {
		t.Fatal(err)
	}
	alice.waitState(id, StateConnected)
	bob.waitState(id, StateConnected)
	alice.waitPackets(id, 20)
	bob.waitPackets(id, 20)

	var pcs []weak.Pointer[webrtc.PeerConnection]
	var calls []*Call
	for _, m := range []*member{alice, bob} {
		c, err := m.eng.call(id)
		if err != nil {
			t.Fatal(err)
		}
		var pc *webrtc.PeerConnection
		if err := c.exec(ctx, func() error { pc = c.pc; return nil }); err != nil || pc == nil {
			t.Fatalf("%s: no peer connection (%v)", m.userID, err)
		}
		pcs = append(pcs, weak.Make(pc))
		calls = append(calls, c)
	}
	if err := alice.eng.Hangup(ctx, id); err != nil {
		t.Fatal(err)
	}
	bob.waitState(id, StateEnded)
	alice.waitState(id, StateEnded)
	for _, c := range calls {
		<-c.finished
	}
	stopA()
	stopB()
	for _, m := range []*member{alice, bob} {
		if ci, ok := m.eng.Call(id); !ok || ci.State != StateEnded {
			t.Fatalf("%s forgot the ended call (%v, %v)", m.userID, ci.State, ok)
		}
	}
	// pion's goroutines and our readers end shortly after Close, not at
	// once: collect until nothing is left, or give up (a hang guard).
	for deadline := time.Now().Add(10 * time.Second); ; {
		runtime.GC()
		left := 0
		for _, p := range pcs {
			if p.Value() != nil {
				left++
			}
		}
		for _, p := range tracks {
			if p.Value() != nil {
				left++
			}
		}
		if left == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i, p := range pcs {
		if p.Value() != nil {
			t.Errorf("%s: the ended call's peer connection is still reachable", []string{"caller", "callee"}[i])
		}
	}
	for i, p := range tracks {
		if p.Value() != nil {
			t.Errorf("%s's %s track is still reachable after the call ended",
				[]string{"caller", "caller", "callee", "callee"}[i], []string{"audio", "video"}[i%2])
		}
	}
}

// kfTrack is a video track that counts key-frame requests.
type kfTrack struct {
	*webrtc.TrackLocalStaticSample
	requests atomic.Int32
}

func (k *kfTrack) RequestKeyframe() { k.requests.Add(1) }

// TestKeyframeAskedForOnConnect: the moment the connection is up, each
// side's video track is asked for a key frame (frames encoded before were
// lost to SRTP), without waiting for the peer's PLI.
func TestKeyframeAskedForOnConnect(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice := r.join(t, "@alice:test")
	bob := r.join(t, "@bob:test")
	am, _ := ownTracks(t, "alice-stream")
	bm, _ := ownTracks(t, "bob-stream")
	ak := &kfTrack{TrackLocalStaticSample: am.Video.(*webrtc.TrackLocalStaticSample)}
	bk := &kfTrack{TrackLocalStaticSample: bm.Video.(*webrtc.TrackLocalStaticSample)}
	am.Video, bm.Video = ak, bk
	if ak.requests.Load() != 0 || bk.requests.Load() != 0 {
		t.Fatal("requests before the call")
	}
	id := connectWith(t, r, alice, bob, true, am, bm)
	// The connected state may come through ICE's callback a moment before
	// the peer connection's own.
	deadline := time.Now().Add(5 * time.Second)
	for ak.requests.Load() < 1 || bk.requests.Load() < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("key-frame requests on connect: alice %d, bob %d", ak.requests.Load(), bk.requests.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := alice.eng.Hangup(ctx, id); err != nil {
		t.Fatal(err)
	}
	bob.waitState(id, StateEnded)
}
