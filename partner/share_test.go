package partner

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/callengine/calltest"
	"github.com/mxcall/mxcall/media"
	"github.com/mxcall/mxcall/media/screen"
)

// shareColours are the shared screen's quadrants in the tests: top left,
// top right, bottom left, bottom right (unlike the camera pattern's).
var shareColours = [4]color.RGBA{
	{R: 200, G: 40, B: 200, A: 255},
	{R: 40, G: 200, B: 200, A: 255},
	{R: 240, G: 140, B: 20, A: 255},
	{R: 235, G: 235, B: 235, A: 255},
}

// quadScreen is a screen.VideoSource of four coloured quadrants.
type quadScreen struct {
	frame  screen.Frame
	reads  atomic.Int64
	closed chan struct{}
	once   sync.Once
}

func newQuadScreen(w, h int, cols [4]color.RGBA) *quadScreen {
	yuv := func(c color.RGBA) (y, u, v uint8) {
		R, G, B := float64(c.R), float64(c.G), float64(c.B)
		return uint8(math.Round(16 + 0.257*R + 0.504*G + 0.098*B)),
			uint8(math.Round(128 - 0.148*R - 0.291*G + 0.439*B)),
			uint8(math.Round(128 + 0.439*R - 0.368*G - 0.071*B))
	}
	f := screen.Frame{Width: w, Height: h, Y: make([]byte, w*h), U: make([]byte, w*h/4), V: make([]byte, w*h/4)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			Y, U, V := yuv(cols[(y*2/h)*2+x*2/w])
			f.Y[y*w+x] = Y
			if x%2 == 0 && y%2 == 0 {
				f.U[(y/2)*(w/2)+x/2], f.V[(y/2)*(w/2)+x/2] = U, V
			}
		}
	}
	return &quadScreen{frame: f, closed: make(chan struct{})}
}

func (q *quadScreen) ReadFrame(ctx context.Context) (*screen.Frame, error) {
	if q.reads.Add(1) > 1 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-q.closed:
			return nil, screen.ErrClosed
		case <-time.After(100 * time.Millisecond):
		}
	}
	q.frame.Time = time.Now()
	return &q.frame, nil
}

func (q *quadScreen) Source() screen.Source {
	return screen.Source{ID: "screen:0", Kind: screen.KindScreen, Title: "quadrants", Size: image.Pt(q.frame.Width, q.frame.Height)}
}

func (q *quadScreen) Close() error {
	q.once.Do(func() { close(q.closed) })
	return nil
}

// logLines is a slog.Handler that hands every record's message and
// attributes, as one line, to a channel.
type logLines chan string

func (l logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l logLines) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	select {
	case l <- b.String():
	default:
	}
	return nil
}
func (l logLines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l logLines) WithGroup(string) slog.Handler      { return l }

// The echo decodes a caller's screen share and logs its size and corner
// colours; the share is not mixed into the echoed camera; stopping the
// share is logged too.
func TestEchoDescribesScreenShare(t *testing.T) {
	lim := test.TimeOut(60 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()

	lines := make(logLines, 256)
	b := &bus{}
	echo := New(slog.New(lines))
	echoEng, err := callengine.New("@echo:test", busSig{b, "@echo:test"}, loopback(),
		callengine.WithOnUpdate(echo.OnUpdate), callengine.WithOnTrack(echo.OnTrack))
	if err != nil {
		t.Fatal(err)
	}
	echo.SetEngine(echoEng)

	connected := make(chan string, 4)
	var echoedVideo atomic.Int64 // video tracks the caller got back
	// The echoed camera carries only the dummy camera samples, all of one
	// size: a packet of another size would be the share mixed in.
	var cameraLen, foreign atomic.Int64
	caller, err := callengine.New("@alice:test", busSig{b, "@alice:test"}, loopback(),
		callengine.WithOnUpdate(func(ci callengine.CallInfo) {
			if ci.State == callengine.StateConnected {
				select {
				case connected <- ci.ID:
				default:
				}
			}
		}),
		callengine.WithOnTrack(func(rt callengine.RemoteTrack) {
			video := rt.Track.Kind() == webrtc.RTPCodecTypeVideo
			if video {
				echoedVideo.Add(1)
			}
			for {
				p, _, err := rt.Track.ReadRTP()
				if err != nil {
					return
				}
				if video && !cameraLen.CompareAndSwap(0, int64(len(p.Payload))) && cameraLen.Load() != int64(len(p.Payload)) {
					foreign.Add(1)
				}
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	b.add(echoEng)
	b.add(caller)

	tr := calltest.NewTracks(t, "s")
	id, err := caller.PlaceCall(context.Background(), "!r:test", "@echo:test", true, callengine.Media{Audio: tr.Audio, Video: tr.Video})
	if err != nil {
		t.Fatal(err)
	}
	<-connected
	share, err := media.NewScreenTrack(newQuadScreen(320, 240, shareColours), media.ScreenOptions{FPS: 10, StreamID: "share"})
	if err != nil {
		t.Fatal(err)
	}
	if err := caller.StartScreenshare(context.Background(), id, share.Video()); err != nil {
		t.Fatal(err)
	}
	waitLine := func(prefix string) string {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case l := <-lines:
				if strings.HasPrefix(l, prefix) {
					return l
				}
			case <-timeout:
				t.Fatalf("the echo never logged %q", prefix)
			}
		}
	}
	waitLine("echo: screen share started")
	l := waitLine("echo: screen share ")
	for strings.HasPrefix(l, "echo: screen share track") || !strings.Contains(l, "corners=") {
		l = waitLine("echo: screen share ")
	}
	if !strings.Contains(l, "size=320x240") {
		t.Errorf("share logged as %q, want size=320x240", l)
	}
	corners := strings.Fields(l[strings.Index(l, "corners=")+len("corners="):])
	if len(corners) < 4 {
		t.Fatalf("corners in %q", l)
	}
	for i, want := range shareColours {
		var got color.RGBA
		if _, err := fmtSscanHex(corners[i], &got); err != nil {
			t.Fatalf("corner %d %q: %v", i, corners[i], err)
		}
		if !nearColour(got, want, 30) {
			t.Errorf("corner %d is %v, want %v (%s)", i, got, want, l)
		}
	}
	if err := caller.StopScreenshare(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	waitLine("echo: screen share ended")
	if n := foreign.Load(); n > 0 {
		t.Errorf("the echoed camera carried %d packets of the screen share", n)
	}
	if n := echoedVideo.Load(); n != 1 {
		t.Errorf("the caller got %d video tracks back, want 1 (the echoed camera)", n)
	}

	_ = caller.Hangup(context.Background(), id)
	_ = caller.Close()
	_ = echoEng.Close()
	_ = echo.Close()
	b.close()
	tr.Close()
	_ = share.Close()
}

func fmtSscanHex(s string, c *color.RGBA) (int, error) {
	c.A = 255
	var r, g, b uint8
	n, err := fmt.Sscanf(s, "#%02x%02x%02x", &r, &g, &b)
	c.R, c.G, c.B = r, g, b
	return n, err
}

func nearColour(a, b color.RGBA, tol int) bool {
	d := func(x, y uint8) int { return max(int(x)-int(y), int(y)-int(x)) }
	return d(a.R, b.R) <= tol && d(a.G, b.G) <= tol && d(a.B, b.B) <= tol
}
