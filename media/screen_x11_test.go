//go:build linux

package media

import (
	"context"
	"image/color"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
	"github.com/pion/transport/v5/test"
)

// These tests capture a real X server (scripts/test-screen.sh runs them
// under Xvfb at 1920x1080); without DISPLAY they are skipped.

// xScreen is a connection that draws on the X screen: override-redirect
// windows (placed exactly, with or without a window manager).
type xScreen struct {
	x *xgb.Conn
	s *xproto.ScreenInfo
}

func openXScreen(tb testing.TB) *xScreen {
	tb.Helper()
	if os.Getenv("DISPLAY") == "" {
		tb.Skip("no DISPLAY (scripts/test-screen.sh runs this under Xvfb)")
	}
	tb.Setenv("WAYLAND_DISPLAY", "")
	tb.Setenv("XDG_SESSION_TYPE", "x11")
	x, err := xgb.NewConn()
	if err != nil {
		tb.Fatalf("connecting to the X server: %v", err)
	}
	return &xScreen{x: x, s: xproto.Setup(x).DefaultScreen(x)}
}

// window maps an override-redirect window of colour c.
func (xs *xScreen) window(tb testing.TB, x, y, w, h int, c color.RGBA) xproto.Window {
	tb.Helper()
	win, err := xproto.NewWindowId(xs.x)
	if err != nil {
		tb.Fatalf("window ID: %v", err)
	}
	px := uint32(c.R)<<16 | uint32(c.G)<<8 | uint32(c.B)
	err = xproto.CreateWindowChecked(xs.x, xs.s.RootDepth, win, xs.s.Root, int16(x), int16(y), uint16(w), uint16(h), 0,
		xproto.WindowClassInputOutput, xs.s.RootVisual, xproto.CwBackPixel|xproto.CwOverrideRedirect, []uint32{px, 1}).Check()
	if err != nil {
		tb.Fatalf("creating a window: %v", err)
	}
	if err := xproto.MapWindowChecked(xs.x, win).Check(); err != nil {
		tb.Fatalf("mapping a window: %v", err)
	}
	return win
}

// pattern covers the screen with the test pattern's four quadrants.
func (xs *xScreen) pattern(tb testing.TB) {
	tb.Helper()
	w, h := int(xs.s.WidthInPixels), int(xs.s.HeightInPixels)
	for q, c := range PatternColours {
		xs.window(tb, (q%2)*w/2, (q/2)*h/2, w/2, h/2, c)
	}
	xproto.GetInputFocus(xs.x).Reply() // a round trip: all painted
}

// The Xvfb screen showing a known pattern, shared through a ScreenTrack
// over a real PeerConnection, arrives with its colours at full size.
func TestScreenTrackXvfb(t *testing.T) {
	defer test.CheckRoutines(t)()
	defer test.TimeOut(60 * time.Second).Stop()
	xs := openXScreen(t)
	defer xs.x.Close()
	xs.pattern(t)
	sw, sh := int(xs.s.WidthInPixels)&^1, int(xs.s.HeightInPixels)&^1

	st, err := OpenScreenTrack(context.Background(), "screen:root", ScreenOptions{FPS: 5, MaxWidth: 4096, MaxHeight: 4096})
	if err != nil {
		t.Fatal(err)
	}
	a, b, sinks := connectScreen(t, st.Video())
	vs := waitSink(t, sinks)
	if vs != nil {
		waitFor(t, "the shared screen", func() bool {
			img, _ := vs.Frames().Acquire()
			return img != nil && img.Rect.Dx() == sw && img.Rect.Dy() == sh
		})
		img, _ := vs.Frames().Acquire()
		checkColours(t, img)
	}
	_ = a.Close()
	_ = b.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// scrollText fills a window with text-like content from a tall pixmap and
// scrolls it by 3 rows at each call (the whole screen changes: the worst
// case for an encoder; reading a page, most of it stays still).
type scrollText struct {
	xs     *xScreen
	win    xproto.Window
	pix    xproto.Pixmap
	gc     xproto.Gcontext
	w, h   int
	offset int
}

func newScrollText(tb testing.TB, xs *xScreen) *scrollText {
	tb.Helper()
	w, h := int(xs.s.WidthInPixels), int(xs.s.HeightInPixels)
	st := &scrollText{xs: xs, w: w, h: h}
	st.win = xs.window(tb, 0, 0, w, h, color.RGBA{250, 250, 250, 255})
	var err error
	if st.pix, err = xproto.NewPixmapId(xs.x); err != nil {
		tb.Fatalf("pixmap ID: %v", err)
	}
	if err := xproto.CreatePixmapChecked(xs.x, xs.s.RootDepth, st.pix, xproto.Drawable(xs.s.Root), uint16(w), uint16(2*h)).Check(); err != nil {
		tb.Fatalf("creating the text pixmap: %v", err)
	}
	if st.gc, err = xproto.NewGcontextId(xs.x); err != nil {
		tb.Fatalf("GC ID: %v", err)
	}
	if err := xproto.CreateGCChecked(xs.x, st.gc, xproto.Drawable(st.pix), 0, nil).Check(); err != nil {
		tb.Fatalf("creating the GC: %v", err)
	}
	const rows = 16 // per PutImage: 1920*16*4 = 123 kB, under the request size limit
	buf := make([]byte, w*rows*4)
	for y0 := 0; y0 < 2*h; y0 += rows {
		for r := 0; r < rows; r++ {
			y := y0 + r
			for x := 0; x < w; x++ {
				v := byte(250)
				if y%16 < 11 && (x/7+y/16)%5 != 0 && (x*13+y*7)%9 < 4 && x%400 > 20 {
					v = 20
				}
				o := (r*w + x) * 4
				buf[o], buf[o+1], buf[o+2] = v, v, v
			}
		}
		err := xproto.PutImageChecked(xs.x, xproto.ImageFormatZPixmap, xproto.Drawable(st.pix), st.gc, uint16(w), rows,
			0, int16(y0), 0, xs.s.RootDepth, buf).Check()
		if err != nil {
			tb.Fatalf("drawing the text: %v", err)
		}
	}
	st.scroll()
	return st
}

func (st *scrollText) scroll() {
	st.offset = (st.offset + 3) % st.h
	_ = xproto.CopyAreaChecked(st.xs.x, xproto.Drawable(st.pix), xproto.Drawable(st.win), st.gc,
		0, int16(st.offset), 0, 0, uint16(st.w), uint16(st.h)).Check()
}

// benchScreen shares the (1920x1080) Xvfb screen through a ScreenTrack
// at 5 fps over a loopback PeerConnection whose receiver drops the
// packets, and reports this process's CPU as a share of one core:
// capture, conversion, encoding, packetisation, SRTP, the receiver's SRTP
// (the X server's copy into shared memory is the X server's CPU, not
// counted). One op is one frame interval (200 ms). With scroll, the
// content scrolls 3 rows a frame: the whole screen changes.
func benchScreen(b *testing.B, scroll bool) {
	b.Helper()
	xs := openXScreen(b)
	defer xs.x.Close()
	text := newScrollText(b, xs)
	st, err := OpenScreenTrack(context.Background(), "screen:root", ScreenOptions{FPS: 5})
	if err != nil {
		b.Fatalf("opening the screen track: %v", err)
	}
	pa, pb, _ := connectScreenTo(b, false, st.Video())
	defer func() {
		_ = pa.Close()
		_ = pb.Close()
		_ = st.Close()
	}()
	for st.FramesSent() < 3 { // connected, the keyframe sent
		time.Sleep(20 * time.Millisecond)
	}
	if w, h := st.Size(); w != 1920 || h != 1080 {
		b.Logf("screen %dx%d", w, h)
	}
	var ru0, ru1 syscall.Rusage
	sent0 := st.FramesSent()
	b.ResetTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if scroll {
			text.scroll()
		}
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * 200 * time.Millisecond)))
	}
	wall := time.Since(start)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	b.StopTimer()
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/frame")
	b.ReportMetric(100*float64(cpu)/float64(wall), "cpu-%")
	b.ReportMetric(float64(st.FramesSent()-sent0)/wall.Seconds(), "sent-fps")
	b.ReportMetric(float64(st.VideoBitrate()), "target-kbit/s")
}

// BenchmarkScreenCaptureEncode1080p5fps: a still screen (a page being
// read).
func BenchmarkScreenCaptureEncode1080p5fps(b *testing.B) { benchScreen(b, false) }

// BenchmarkScreenCaptureEncode1080p5fpsScrolling: the whole screen
// scrolls every frame.
func BenchmarkScreenCaptureEncode1080p5fpsScrolling(b *testing.B) { benchScreen(b, true) }
