//go:build integration && goolm

package backend

import (
	"context"
	"fmt"
	"image"
	"testing"
	"time"

	"github.com/mxcall/mxcall/media"
	"github.com/mxcall/mxcall/ui"
)

// TestIntegrationRTCScreenshare: in a MatrixRTC call (a plain room, and
// an end-to-end encrypted one), alice shares a screen (the test-pattern
// capture) through Backend.StartScreenshare; bob's Participants gain a
// screen tile of hers, apart from her camera's, whose decoded frames are
// the pattern; she stops, the tile goes; she shares again, it is back.
func TestIntegrationRTCScreenshare(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", encrypted), func(t *testing.T) {
			ctx, hs, focus := rtcIT(t)
			alice := newRTCUser(ctx, t, hs, "alice", focus)
			alice.b.rtc.cfg.newScreen = testPatternScreen() // no X display in the test's namespace
			bob := newRTCUser(ctx, t, hs, "bob", focus)
			var room string
			if encrypted {
				room = encryptedGroup(ctx, t, hs, alice, bob)
			} else {
				room = alice.dm(ctx, t, bob)
			}
			a, err := alice.b.JoinCall(ctx, room, true)
			if err != nil {
				t.Fatal(err)
			}
			b, err := bob.b.JoinCall(ctx, room, true)
			if err != nil {
				t.Fatal(err)
			}
			tileSeqOf := func(id string) uint64 { return tileSeq(bob, b, id) }
			aliceID := alice.id + ":" + alice.b.mc.DeviceID()
			waitIT(ctx, t, "bob decoding alice's camera", func() bool { return tileSeqOf(aliceID) > 0 })
			screenTile := func() (ui.Participant, bool) {
				for _, p := range bob.b.Participants(b) {
					if p.Screen {
						return p, true
					}
				}
				return ui.Participant{}, false
			}
			for round := 1; round <= 2; round++ {
				start := time.Now()
				if err := alice.b.StartScreenshare(ctx, a, testScreenID); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				var tile ui.Participant
				waitIT(ctx, t, "bob decoding alice's share", func() bool {
					p, ok := screenTile()
					if !ok || p.Video == nil || p.WaitingForKey {
						return false
					}
					tile = p
					img, _, ok := p.Video.FrameInto(nil, 0)
					return ok && isPattern(img)
				})
				t.Logf("round %d: alice's share decoded at bob %v after StartScreenshare", round, time.Since(start).Round(time.Millisecond))
				if tile.ID == aliceID || tile.Name == "" || tile.Encrypted != encrypted {
					t.Errorf("round %d: share tile %+v", round, tile)
				}
				if seq := tileSeqOf(aliceID); seq == 0 {
					t.Errorf("round %d: alice's camera tile lost its picture", round)
				}
				if err := alice.b.StopScreenshare(ctx, a); err != nil {
					t.Fatal(err)
				}
				waitIT(ctx, t, "alice's share tile gone at bob", func() bool { _, ok := screenTile(); return !ok })
			}
			for _, c := range []struct {
				u  *rtcUser
				id string
			}{{alice, a}, {bob, b}} {
				if err := c.u.b.Hangup(ctx, c.id); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// isPattern reports whether img shows media's test pattern: its four
// quadrants' colours.
func isPattern(img *image.RGBA) bool {
	if img == nil {
		return false
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	near := func(a, b uint8) bool { return int(a)-int(b) < 40 && int(b)-int(a) < 40 }
	for i, p := range []image.Point{{w / 4, h / 8}, {w * 3 / 4, h / 8}, {w / 4, h * 7 / 8}, {w * 3 / 4, h * 7 / 8}} {
		c, want := img.RGBAAt(p.X, p.Y), media.PatternColours[i]
		if !near(c.R, want.R) || !near(c.G, want.G) || !near(c.B, want.B) {
			return false
		}
	}
	return true
}

// testScreenID is a source ID for testPatternScreen (which shares the
// pattern whatever the ID).
const testScreenID = "test-pattern"

// testPatternScreen is a ScreenCapture of media's test pattern, at a
// screen share's size and frame rate (tests share it).
func testPatternScreen(opts ...media.Option) ScreenCapture {
	return func(_ context.Context, _ string) (ScreenTrack, error) {
		return media.NewSource(append([]media.Option{media.WithTestPattern(),
			media.WithVideoSize(1280, 720), media.WithFrameRate(5)}, opts...)...)
	}
}
