//go:build integration && goolm

package backend

import (
	"context"
	"image"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/callengine/calltest"
	"github.com/mxcall/mxcall/matrixclient"
	"github.com/mxcall/mxcall/media"
	"github.com/mxcall/mxcall/ui"
)

// TestIntegrationScreenshareLegacy: one mxcall shares a "screen" (media's
// test pattern at 1280x720, 5 fps) with another in a legacy call in an
// encrypted DM on the real homeserver. The receiver decodes the pattern
// into its screen slot (RemoteScreen), at the share's size and with its
// colours, while the camera (640x480) stays in RemoteVideo; it sees the
// share stop (RemoteScreen nil), start again, and survive hold.
func TestIntegrationScreenshareLegacy(t *testing.T) {
	ctx, hs := startIT(t)
	alice, apw := registerIT(t, hs, "alice")
	bob, bpw := registerIT(t, hs, "bob")
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	se := calltest.LoopbackSettings()
	newBackend := func(user, pw string) (*Backend, <-chan callengine.CallInfo) {
		b, err := New(Config{Keyring: matrixclient.NewMemoryKeyring(), DataDir: t.TempDir(), Log: log, LegacyCalls: true,
			SettingEngine: &se, MediaOptions: []media.Option{media.WithTestPattern(), media.WithTone(440)}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		if _, err := b.Login(ctx, hs, user, pw); err != nil {
			t.Fatal(err)
		}
		updates := make(chan callengine.CallInfo, 1024)
		t.Cleanup(b.SubscribeCalls(func(ci callengine.CallInfo) {
			select {
			case updates <- ci:
			default:
			}
		}))
		return b, updates
	}
	a, aUpdates := newBackend(alice, apw)
	b, bUpdates := newBackend(bob, bpw)
	waitIT(ctx, t, "encryption ready", func() bool { return a.mc.Status().E2EE && b.mc.Status().E2EE })
	roomID, err := a.CreateDM(ctx, bob)
	if err != nil {
		t.Fatal(err)
	}
	waitIT(ctx, t, "bob's invite", func() bool { return len(b.mc.Invites()) > 0 })
	if err := b.AcceptInvite(ctx, roomID); err != nil {
		t.Fatal(err)
	}
	waitIT(ctx, t, "bob in the DM", func() bool { _, err := a.mc.CallPeer(roomID); return err == nil })

	// waitCall waits for an update of the call that satisfies ok.
	waitCall := func(who string, ch <-chan callengine.CallInfo, what string, ok func(callengine.CallInfo) bool) callengine.CallInfo {
		t.Helper()
		for {
			select {
			case ci := <-ch:
				if ok(ci) {
					return ci
				}
				if ci.State == callengine.StateEnded {
					t.Fatalf("%s: call ended (%s by %s) waiting for %s", who, ci.EndReason, ci.EndedBy, what)
				}
			case <-ctx.Done():
				t.Fatalf("%s: timed out waiting for %s", who, what)
			}
		}
	}
	id, err := a.PlaceCall(ctx, roomID, bob, true)
	if err != nil {
		t.Fatal(err)
	}
	waitCall("bob", bUpdates, "ringing", func(ci callengine.CallInfo) bool { return ci.ID == id && ci.State == callengine.StateRinging })
	if err := b.Answer(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	waitCall("alice", aUpdates, "connected", func(ci callengine.CallInfo) bool { return ci.State == callengine.StateConnected })
	waitCall("bob", bUpdates, "connected", func(ci callengine.CallInfo) bool { return ci.State == callengine.StateConnected })
	// The camera's picture first.
	camera := waitFrame(ctx, t, "camera", func() ui.FrameSource { return b.RemoteVideo(id) })
	if camera.Rect.Dx() != 640 || camera.Rect.Dy() != 480 {
		t.Errorf("camera frame %v, want 640x480", camera.Rect)
	}
	if b.RemoteScreen(id) != nil {
		t.Error("a screen share before any was started")
	}

	share := func(round string) {
		t.Helper()
		screen, err := media.NewSource(media.WithTestPattern(), media.WithVideoSize(1280, 720), media.WithFrameRate(5),
			media.WithStreamID("mxcall-screen-"+round), media.WithLogger(log))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := a.ShareScreen(ctx, id, screen); err != nil {
			t.Fatalf("%s: %v", round, err)
		}
		waitCall("alice", aUpdates, round+": sharing", func(ci callengine.CallInfo) bool { return ci.Screensharing })
		waitCall("bob", bUpdates, round+": remote share", func(ci callengine.CallInfo) bool { return ci.RemoteScreenshare })
		img := waitFrame(ctx, t, round+": screen", func() ui.FrameSource { return b.RemoteScreen(id) })
		t.Logf("%s share: first decoded screen frame %v after ShareScreen (polled every 50 ms)", round, time.Since(start).Round(time.Millisecond))
		if img.Rect.Dx() != 1280 || img.Rect.Dy() != 720 {
			t.Errorf("%s: screen frame %v, want 1280x720", round, img.Rect)
		}
		checkPatternColours(t, img)
		if cam := waitFrame(ctx, t, round+": camera while sharing", func() ui.FrameSource { return b.RemoteVideo(id) }); cam.Rect.Dx() != 640 {
			t.Errorf("%s: camera frame %v while sharing, want 640x480", round, cam.Rect)
		}
	}
	stop := func(round string) {
		t.Helper()
		start := time.Now()
		if err := a.StopScreenshare(ctx, id); err != nil {
			t.Fatalf("%s: stop: %v", round, err)
		}
		waitCall("bob", bUpdates, round+": share ended", func(ci callengine.CallInfo) bool { return !ci.RemoteScreenshare })
		t.Logf("%s share: the peer saw it end %v after StopScreenshare", round, time.Since(start).Round(time.Millisecond))
		if b.RemoteScreen(id) != nil {
			t.Errorf("%s: RemoteScreen after the share ended", round)
		}
	}

	share("first")
	stop("first")
	share("second")
	// Hold while sharing, then resume: the share comes back with the call.
	if err := a.SetHold(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	waitCall("bob", bUpdates, "held", func(ci callengine.CallInfo) bool { return ci.RemoteOnHold })
	if err := a.SetHold(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	waitCall("bob", bUpdates, "resumed", func(ci callengine.CallInfo) bool { return !ci.RemoteOnHold && ci.RemoteScreenshare })
	checkPatternColours(t, waitFrame(ctx, t, "screen after resuming", func() ui.FrameSource { return b.RemoteScreen(id) }))
	stop("second")
	if ci, _ := b.eng.Call(id); ci.State != callengine.StateConnected {
		t.Errorf("bob's call is %s, want connected", ci.State)
	}
	if err := a.Hangup(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitCall("bob", bUpdates, "hangup", func(ci callengine.CallInfo) bool { return ci.State == callengine.StateEnded })
}

// waitFrame waits for a new decoded frame from the source get returns
// (nil until there is one) and returns it.
func waitFrame(ctx context.Context, t *testing.T, what string, get func() ui.FrameSource) *image.RGBA {
	t.Helper()
	var img *image.RGBA
	waitIT(ctx, t, what+" frame", func() bool {
		src := get()
		if src == nil {
			return false
		}
		var ok bool
		img, _, ok = src.FrameInto(nil, 0)
		return ok && img != nil
	})
	return img
}

// checkPatternColours compares the centre of each quadrant of img with
// media.PatternColours.
func checkPatternColours(t *testing.T, img *image.RGBA) {
	t.Helper()
	w, h := img.Rect.Dx(), img.Rect.Dy()
	for q, want := range media.PatternColours {
		cx, cy := w/4+(q%2)*w/2, h/4+(q/2)*h/2
		var sum [3]int
		n := 0
		for y := cy - 8; y < cy+8; y++ {
			for x := cx - 8; x < cx+8; x++ {
				c := img.RGBAAt(x, y)
				sum[0] += int(c.R)
				sum[1] += int(c.G)
				sum[2] += int(c.B)
				n++
			}
		}
		got := [3]int{sum[0] / n, sum[1] / n, sum[2] / n}
		exp := [3]int{int(want.R), int(want.G), int(want.B)}
		for i := range got {
			if d := got[i] - exp[i]; d < -25 || d > 25 {
				t.Errorf("quadrant %d: RGB %v, want ≈ %v", q, got, exp)
				break
			}
		}
	}
}
