//go:build integration

package matrixrtc_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/mxcall/mxcall/internal/rtctest"
	"github.com/mxcall/mxcall/matrixrtc"
	"github.com/mxcall/mxcall/media"
	"github.com/mxcall/mxcall/media/framecrypt"
)

// screenViewer is a session that decodes the video tracks it receives and
// keeps, per kind (screen share or camera), the newest track and how many
// it saw.
type screenViewer struct {
	dec *framecrypt.Decryptor // nil: plain

	mu      sync.Mutex
	screens []viewed // every screen-share track, in order
	cameras int
	sharing bool // the last participant list said the sharer shares
	changed chan struct{}
}

type viewed struct {
	rt   matrixrtc.RemoteTrack
	sink *media.VideoSink
}

func (v *screenViewer) poke() {
	select {
	case v.changed <- struct{}{}:
	default:
	}
}

func (v *screenViewer) onTrack(t *testing.T) func(matrixrtc.RemoteTrack) {
	t.Helper()
	return func(rt matrixrtc.RemoteTrack) {
		if rt.Track.Kind() != webrtc.RTPCodecTypeVideo {
			return
		}
		if !rt.Screen {
			v.mu.Lock()
			v.cameras++
			v.mu.Unlock()
			v.poke()
			return
		}
		var opts []media.SinkOption
		if v.dec != nil {
			v.dec.SetSIFTrailer(rt.SIFTrailer)
			opts = append(opts, media.WithDecryptor(v.dec))
		}
		pli := func([]rtcp.Packet) error { rt.RequestKeyframe(); return nil }
		sink, err := media.NewVideoSink(rt.Track, pli, opts...)
		if err != nil {
			t.Errorf("screen sink: %v", err)
			return
		}
		v.mu.Lock()
		v.screens = append(v.screens, viewed{rt, sink})
		v.mu.Unlock()
		v.poke()
	}
}

func (v *screenViewer) onParticipants(ps []matrixrtc.Participant) {
	v.mu.Lock()
	v.sharing = false
	for _, p := range ps {
		v.sharing = v.sharing || p.Screensharing
	}
	v.mu.Unlock()
	v.poke()
}

// wait waits until cond (under the lock) holds.
func (v *screenViewer) wait(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for {
		v.mu.Lock()
		ok := cond()
		v.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-v.changed:
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// waitPattern waits for decoded frames of the test pattern (its four
// quadrant colours) in slot.
func waitPattern(ctx context.Context, t *testing.T, slot *media.FrameSlot) {
	t.Helper()
	var img *image.RGBA
	for {
		out, _, ok := slot.FrameFit(img, 0, 0, 0)
		if ok {
			img = out
			w, h := img.Rect.Dx(), img.Rect.Dy()
			good := true
			for i, p := range []image.Point{{w / 4, h / 8}, {w * 3 / 4, h / 8}, {w / 4, h * 7 / 8}, {w * 3 / 4, h * 7 / 8}} {
				c, want := img.RGBAAt(p.X, p.Y), media.PatternColours[i]
				good = good && near(c.R, want.R) && near(c.G, want.G) && near(c.B, want.B)
			}
			if good {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no decoded frame of the shared pattern (last frame %v)", img != nil)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func near(a, b uint8) bool { return int(a)-int(b) < 40 && int(b)-int(a) < 40 }

// TestScreenshare: alice, in a call with her camera on, publishes a screen
// share mid-session; bob receives it as a screen-share track (apart from
// her camera), decodes the shared pattern and sees her listed as sharing;
// she stops, bob sees the track end and the listing go; she shares again
// and bob decodes the new track. Plain, and end-to-end encrypted with the
// camera's key (bob decrypts with it; the SFU forwards what it cannot
// read).
func TestScreenshare(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", encrypted), func(t *testing.T) {
			ctx := rtctest.Guard(t)
			alice, bob := register(ctx, t, "alice"), register(ctx, t, "bob")
			room := alice.createRoom(ctx, t, map[string]any{"events": map[string]any{matrixrtc.TypeCallMember: 0}})
			bob.joinRoom(ctx, t, room)

			var enc *framecrypt.Encryptor
			viewer := &screenViewer{changed: make(chan struct{}, 1)}
			if encrypted {
				key := []byte("0123456789abcdef0123456789abcdef")
				ring, bobRing := framecrypt.NewKeyRing(), framecrypt.NewKeyRing()
				for _, r := range []*framecrypt.KeyRing{ring, bobRing} {
					if err := r.SetKey(0, key); err != nil {
						t.Fatal(err)
					}
				}
				enc, viewer.dec = framecrypt.NewEncryptor(ring), framecrypt.NewDecryptor(bobRing)
			}
			newPattern := func(w, h int) *media.Source {
				src, err := media.NewSource(media.WithTestPattern(), media.WithVideoSize(w, h), media.WithFrameRate(10), media.WithTone(440))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = src.Close() })
				if enc != nil {
					src.SetEncryption(enc)
				}
				return src
			}
			camera := newPattern(160, 120)
			focus := matrixrtc.Discovery{Configured: []matrixrtc.Transport{{Type: matrixrtc.TransportLiveKit, ServiceURL: authURL}}}
			sa, err := matrixrtc.NewSession(matrixrtc.SessionConfig{Matrix: alice, RoomID: room, Discovery: focus, Intent: "video",
				Tracks: []webrtc.TrackLocal{camera.Video()}, Encrypted: encrypted})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sa.Close() })
			sb, err := matrixrtc.NewSession(matrixrtc.SessionConfig{Matrix: bob, RoomID: room, Discovery: focus,
				OnRemoteTrack: viewer.onTrack(t), OnParticipants: viewer.onParticipants})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sb.Close() })
			if err := sa.PublishScreenshare(ctx, camera.Video()); !errors.Is(err, matrixrtc.ErrWrongState) {
				t.Fatalf("PublishScreenshare before Join: %v, want ErrWrongState", err)
			}
			for _, s := range []*matrixrtc.Session{sa, sb} {
				if err := s.Join(ctx); err != nil {
					t.Fatal(err)
				}
			}
			viewer.wait(ctx, t, "alice's camera", func() bool { return viewer.cameras == 1 })

			for round := 1; round <= 2; round++ {
				screen := newPattern(640, 360)
				start := time.Now()
				if err := sa.PublishScreenshare(ctx, screen.Video()); err != nil {
					t.Fatalf("round %d: PublishScreenshare: %v", round, err)
				}
				if on, err := sa.Screensharing(ctx); err != nil || !on {
					t.Fatalf("round %d: Screensharing() = %v, %v", round, on, err)
				}
				viewer.wait(ctx, t, "the screen-share track", func() bool { return len(viewer.screens) == round && viewer.sharing })
				viewer.mu.Lock()
				got := viewer.screens[round-1]
				cameras := viewer.cameras
				viewer.mu.Unlock()
				if got.rt.Identity != alice.user+":"+alice.device || got.rt.Encrypted != encrypted {
					t.Errorf("round %d: screen track from %q encrypted=%v", round, got.rt.Identity, got.rt.Encrypted)
				}
				waitPattern(ctx, t, got.sink.Frames())
				t.Logf("round %d: shared pattern decoded %v after publishing", round, time.Since(start).Round(time.Millisecond))
				if cameras != 1 {
					t.Errorf("round %d: %d camera tracks, want alice's one", round, cameras)
				}

				if err := sa.UnpublishScreenshare(ctx); err != nil {
					t.Fatalf("round %d: UnpublishScreenshare: %v", round, err)
				}
				select {
				case <-got.rt.Ended:
				case <-ctx.Done():
					t.Fatalf("round %d: bob never saw the screen-share track end", round)
				}
				viewer.wait(ctx, t, "alice listed as not sharing", func() bool { return !viewer.sharing })
				_ = got.sink.Close()
				_ = screen.Close()
				if err := sa.UnpublishScreenshare(ctx); err != nil {
					t.Fatalf("a second UnpublishScreenshare: %v", err)
				}
			}
			viewer.mu.Lock()
			cameras := viewer.cameras
			viewer.mu.Unlock()
			if cameras != 1 {
				t.Errorf("%d camera tracks after two shares, want 1: the camera was disturbed", cameras)
			}
		})
	}
}
