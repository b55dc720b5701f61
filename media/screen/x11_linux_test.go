//go:build linux

package screen

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
	"github.com/pion/transport/v5/test"

	"github.com/mxcall/mxcall/media/vpx"
)

// The X11 tests need an X server (scripts/test-screen.sh runs them under
// Xvfb, once bare and once with a window manager); without DISPLAY they
// are skipped.
func needX(tb testing.TB) {
	tb.Helper()
	if os.Getenv("DISPLAY") == "" {
		tb.Skip("no DISPLAY (scripts/test-screen.sh runs these under Xvfb)")
	}
	// XWayland is not what these tests are about.
	tb.Setenv("WAYLAND_DISPLAY", "")
	tb.Setenv("XDG_SESSION_TYPE", "x11")
}

// Colours the tests draw.
var (
	rootColour = color.RGBA{30, 60, 150, 255}
	quadrants  = [4]color.RGBA{{230, 30, 30, 255}, {30, 200, 60, 255}, {250, 250, 250, 255}, {240, 200, 20, 255}}
)

// xclient is a tiny X client for the tests: it paints the root window and
// makes windows of four coloured quadrants (child windows with background
// colours, which the server paints itself).
type xclient struct {
	t testing.TB
	x *xgb.Conn
	s *xproto.ScreenInfo
}

func newXClient(tb testing.TB) *xclient {
	tb.Helper()
	x, err := xgb.NewConn()
	if err != nil {
		tb.Fatal(err)
	}
	c := &xclient{t: tb, x: x, s: xproto.Setup(x).DefaultScreen(x)}
	return c
}

func pixel(c color.RGBA) uint32 { return uint32(c.R)<<16 | uint32(c.G)<<8 | uint32(c.B) }

func (c *xclient) paintRoot(col color.RGBA) {
	c.t.Helper()
	if err := xproto.ChangeWindowAttributesChecked(c.x, c.s.Root, xproto.CwBackPixel, []uint32{pixel(col)}).Check(); err != nil {
		c.t.Fatal(err)
	}
	if err := xproto.ClearAreaChecked(c.x, false, c.s.Root, 0, 0, 0, 0).Check(); err != nil {
		c.t.Fatal(err)
	}
}

// window maps a w×h window titled title at (x, y) with four coloured
// quadrants and waits until it is shown.
func (c *xclient) window(title string, x, y, w, h int) xproto.Window {
	c.t.Helper()
	win, err := xproto.NewWindowId(c.x)
	if err != nil {
		c.t.Fatal(err)
	}
	err = xproto.CreateWindowChecked(c.x, c.s.RootDepth, win, c.s.Root, int16(x), int16(y), uint16(w), uint16(h), 0,
		xproto.WindowClassInputOutput, c.s.RootVisual, xproto.CwBackPixel, []uint32{0}).Check()
	if err != nil {
		c.t.Fatal(err)
	}
	for _, p := range []struct {
		atom xproto.Atom
		typ  xproto.Atom
	}{{xproto.AtomWmName, xproto.AtomString}, {c.atom("_NET_WM_NAME"), c.atom("UTF8_STRING")}} {
		if err := xproto.ChangePropertyChecked(c.x, xproto.PropModeReplace, win, p.atom, p.typ, 8, uint32(len(title)), []byte(title)).Check(); err != nil {
			c.t.Fatal(err)
		}
	}
	pid := make([]byte, 4)
	xgb.Put32(pid, uint32(os.Getpid()))
	_ = xproto.ChangePropertyChecked(c.x, xproto.PropModeReplace, win, c.atom("_NET_WM_PID"), xproto.AtomCardinal, 32, 1, pid).Check()
	c.quadrants(win, w, h)
	if err := xproto.MapWindowChecked(c.x, win).Check(); err != nil {
		c.t.Fatal(err)
	}
	c.waitMapped(win)
	return win
}

// quadrants (re)makes the four child windows filling win (w×h).
func (c *xclient) quadrants(win xproto.Window, w, h int) {
	c.t.Helper()
	for i, col := range quadrants {
		sub, _ := xproto.NewWindowId(c.x)
		qx, qy := (i%2)*w/2, (i/2)*h/2
		err := xproto.CreateWindowChecked(c.x, c.s.RootDepth, sub, win, int16(qx), int16(qy), uint16(w/2), uint16(h/2), 0,
			xproto.WindowClassInputOutput, c.s.RootVisual, xproto.CwBackPixel, []uint32{pixel(col)}).Check()
		if err != nil {
			c.t.Fatal(err)
		}
		if err := xproto.MapWindowChecked(c.x, sub).Check(); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *xclient) atom(name string) xproto.Atom {
	r, err := xproto.InternAtom(c.x, false, uint16(len(name)), name).Reply()
	if err != nil {
		c.t.Fatal(err)
	}
	return r.Atom
}

func (c *xclient) waitMapped(win xproto.Window) {
	c.t.Helper()
	for range 500 {
		a, err := xproto.GetWindowAttributes(c.x, win).Reply()
		if err != nil {
			c.t.Fatal(err)
		}
		if a.MapState == xproto.MapStateViewable {
			xproto.GetInputFocus(c.x).Reply() // a round trip: the server has painted it
			time.Sleep(50 * time.Millisecond) // and a window manager framed it
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatal("window never shown")
}

// origin is the window's top left corner on the root window.
func (c *xclient) origin(win xproto.Window) image.Point {
	c.t.Helper()
	r, err := xproto.TranslateCoordinates(c.x, win, c.s.Root, 0, 0).Reply()
	if err != nil {
		c.t.Fatal(err)
	}
	return image.Pt(int(r.DstX), int(r.DstY))
}

func uniqueTitle(prefix string) string { return fmt.Sprintf("%s %08x", prefix, rand.Uint32()) }

// rgba converts a frame for checking.
func rgba(tb testing.TB, f *Frame) *image.RGBA {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, f.Width, f.Height))
	if err := vpx.I420ToRGBA(f.Y, f.U, f.V, img, 1); err != nil {
		tb.Fatal(err)
	}
	return img
}

// near checks that the colour at p is c (within the rounding of two
// colour conversions).
func near(tb testing.TB, img *image.RGBA, p image.Point, want color.RGBA, what string) {
	tb.Helper()
	got := img.RGBAAt(p.X, p.Y)
	for i, d := range []int{int(got.R) - int(want.R), int(got.G) - int(want.G), int(got.B) - int(want.B)} {
		if d < -8 || d > 8 {
			tb.Errorf("%s at %v: got %v, want %v (channel %d)", what, p, got, want, i)
			return
		}
	}
}

// checkQuadrants checks the window's four colours in img, the window's
// w×h picture scaled by sc, at offset o.
func checkQuadrants(tb testing.TB, img *image.RGBA, o image.Point, w, h int, sc float64, what string) {
	tb.Helper()
	for i, col := range quadrants {
		p := image.Pt(int(float64((i%2)*w/2+w/4)*sc), int(float64((i/2)*h/2+h/4)*sc)).Add(o)
		near(tb, img, p, col, fmt.Sprintf("%s quadrant %d", what, i))
	}
}

func findSource(tb testing.TB, title string) Source {
	tb.Helper()
	srcs, err := ListSources(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	for _, s := range srcs {
		if s.Title == title {
			return s
		}
	}
	tb.Fatalf("window %q not among %v", title, srcs)
	return Source{}
}

func TestX11ListSources(t *testing.T) {
	needX(t)
	defer test.CheckRoutines(t)()
	x := newXClient(t)
	defer x.x.Close()
	title := uniqueTitle("mxcall list ✓")
	win := x.window(title, 40, 40, 200, 120)
	s := findSource(t, title)
	if s.Kind != KindWindow || s.ID != windowID(win) || s.Size != image.Pt(200, 120) || s.PID != os.Getpid() {
		t.Errorf("window source = %+v, want kind window, ID %s, 200x120, our PID", s, windowID(win))
	}
	srcs, err := ListSources(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) == 0 || srcs[0].Kind != KindScreen || !srcs[0].Primary || srcs[0].Size.X == 0 {
		t.Errorf("first source %+v, want the primary screen", srcs)
	}
	// A window that is unmapped (minimised) is not listed.
	if err := xproto.UnmapWindowChecked(x.x, win).Check(); err != nil {
		t.Fatal(err)
	}
	x.x.Sync()
	time.Sleep(50 * time.Millisecond)
	srcs, _ = ListSources(context.Background())
	for _, s := range srcs {
		if s.Title == title {
			t.Errorf("unmapped window listed: %+v", s)
		}
	}
}

func TestX11CaptureScreen(t *testing.T) {
	needX(t)
	defer test.CheckRoutines(t)()
	x := newXClient(t)
	defer x.x.Close()
	x.paintRoot(rootColour)
	title := uniqueTitle("mxcall screen")
	win := x.window(title, 300, 200, 320, 240)
	o := x.origin(win)

	src, err := Open(context.Background(), "screen:root", Options{FPS: 10, MaxWidth: 4096, MaxHeight: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if s := src.Source(); s.Kind != KindScreen || s.Size != image.Pt(int(x.s.WidthInPixels), int(x.s.HeightInPixels)) {
		t.Errorf("source %+v", s)
	}
	f, err := src.ReadFrame(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if f.Width != int(x.s.WidthInPixels)&^1 || f.Height != int(x.s.HeightInPixels)&^1 {
		t.Fatalf("frame %dx%d, screen %dx%d", f.Width, f.Height, x.s.WidthInPixels, x.s.HeightInPixels)
	}
	img := rgba(t, f)
	near(t, img, image.Pt(f.Width-5, f.Height-5), rootColour, "root")
	checkQuadrants(t, img, o, 320, 240, 1, "window on screen")

	// Frames come at the asked rate, not faster (load only spaces them out).
	prev := f.Time
	for range 3 {
		f, err := src.ReadFrame(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if d := f.Time.Sub(prev); d < 90*time.Millisecond {
			t.Errorf("frames %v apart at 10 fps", d)
		}
		prev = f.Time
	}
	// Close is idempotent and ends a waiting ReadFrame.
	go func() {
		time.Sleep(20 * time.Millisecond)
		src.Close()
	}()
	for {
		if _, err := src.ReadFrame(context.Background()); err != nil {
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("after Close: %v", err)
			}
			break
		}
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestX11CaptureScreenScaled(t *testing.T) {
	needX(t)
	defer test.CheckRoutines(t)()
	x := newXClient(t)
	defer x.x.Close()
	x.paintRoot(rootColour)
	src, err := Open(context.Background(), "screen:root", Options{FPS: 10, MaxWidth: 640, MaxHeight: 640})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, err := src.ReadFrame(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if f.Width > 640 || f.Height > 640 || f.Width%2 != 0 || f.Height%2 != 0 {
		t.Errorf("frame %dx%d, want within 640x640 and even", f.Width, f.Height)
	}
	near(t, rgba(t, f), image.Pt(f.Width-3, f.Height-3), rootColour, "root")
}

func TestX11CaptureWindow(t *testing.T) {
	needX(t)
	defer test.CheckRoutines(t)()
	x := newXClient(t)
	defer x.x.Close()
	title := uniqueTitle("mxcall window")
	win := x.window(title, 100, 100, 320, 240)
	s := findSource(t, title)
	src, err := Open(context.Background(), s.ID, Options{FPS: 20})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if got := src.Source(); got.Title != title || got.Kind != KindWindow {
		t.Errorf("source %+v", got)
	}
	f, err := src.ReadFrame(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if f.Width != 320 || f.Height != 240 {
		t.Fatalf("frame %dx%d, want 320x240", f.Width, f.Height)
	}
	checkQuadrants(t, rgba(t, f), image.Point{}, 320, 240, 1, "window")

	// Covered by another window, it is still captured whole (XComposite).
	cover := x.window(uniqueTitle("mxcall cover"), 0, 0, 1000, 700)
	o := x.origin(win)
	if co := x.origin(cover); co.X <= o.X && co.Y <= o.Y {
		f, err = src.ReadFrame(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		checkQuadrants(t, rgba(t, f), image.Point{}, 320, 240, 1, "covered window")
	}
	_ = xproto.DestroyWindowChecked(x.x, cover).Check()

	// Resized (to an odd size): frames of the new size, cropped to even.
	if err := xproto.ConfigureWindowChecked(x.x, win, xproto.ConfigWindowWidth|xproto.ConfigWindowHeight, []uint32{401, 301}).Check(); err != nil {
		t.Fatal(err)
	}
	x.quadrants(win, 401, 301) // on top of the old ones
	x.x.Sync()
	var last *Frame
	for range 50 {
		if last, err = src.ReadFrame(context.Background()); err != nil {
			t.Fatal(err)
		}
		if last.Width == 400 && last.Height == 300 {
			break
		}
	}
	if last.Width != 400 || last.Height != 300 {
		t.Fatalf("after resize: %dx%d, want 400x300", last.Width, last.Height)
	}
	checkQuadrants(t, rgba(t, last), image.Point{}, 401, 301, 1, "resized window")

	// Unmapped (minimised): the last frame again, no error.
	if err := xproto.UnmapWindowChecked(x.x, win).Check(); err != nil {
		t.Fatal(err)
	}
	x.x.Sync()
	f, err = src.ReadFrame(context.Background())
	if err != nil || f.Width != 400 {
		t.Fatalf("unmapped window: %v, %v", f, err)
	}
	if err := xproto.MapWindowChecked(x.x, win).Check(); err != nil {
		t.Fatal(err)
	}
	x.waitMapped(win)

	// Closed: the source ends with ErrSourceGone, never a black frame.
	if err := xproto.DestroyWindowChecked(x.x, win).Check(); err != nil {
		t.Fatal(err)
	}
	x.x.Sync()
	for i := 0; ; i++ {
		f, err := src.ReadFrame(context.Background())
		if errors.Is(err, ErrSourceGone) {
			break
		}
		if err != nil {
			t.Fatalf("after the window closed: %v, want ErrSourceGone", err)
		}
		if i > 2 {
			t.Fatalf("frame %d after the window closed", i)
		}
		checkQuadrants(t, rgba(t, f), image.Point{}, 401, 301, 1, "frame taken before the close")
	}
	if _, err := src.ReadFrame(context.Background()); !errors.Is(err, ErrSourceGone) {
		t.Errorf("ReadFrame again: %v, want ErrSourceGone", err)
	}
	if _, err := Open(context.Background(), s.ID, Options{}); !errors.Is(err, ErrNoSource) {
		t.Errorf("Open of a closed window: %v, want ErrNoSource", err)
	}
}

func TestX11Thumbnail(t *testing.T) {
	needX(t)
	defer test.CheckRoutines(t)()
	x := newXClient(t)
	defer x.x.Close()
	x.paintRoot(rootColour)
	title := uniqueTitle("mxcall thumb")
	win := x.window(title, 50, 50, 480, 360)
	s := findSource(t, title)
	p, err := NewPicker(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for range 2 { // the second time through the kept redirection
		img, err := p.Thumbnail(context.Background(), s.ID, 240)
		if err != nil {
			t.Fatal(err)
		}
		if img.Rect.Dx() != 240 || img.Rect.Dy() != 180 {
			t.Fatalf("thumbnail %v, want 240x180", img.Rect)
		}
		checkQuadrants(t, img, image.Point{}, 480, 360, 0.5, "thumbnail")
	}
	img, err := p.Thumbnail(context.Background(), "screen:root", 240)
	if err != nil {
		t.Fatal(err)
	}
	if img.Rect.Dx() > 240 || img.Rect.Dy() > 240 {
		t.Errorf("screen thumbnail %v", img.Rect)
	}
	near(t, img, image.Pt(img.Rect.Dx()-2, img.Rect.Dy()-2), rootColour, "screen thumbnail")

	if err := xproto.UnmapWindowChecked(x.x, win).Check(); err != nil {
		t.Fatal(err)
	}
	x.x.Sync()
	time.Sleep(20 * time.Millisecond)
	if _, err := p.Thumbnail(context.Background(), s.ID, 240); !errors.Is(err, ErrNotViewable) {
		t.Errorf("thumbnail of an unmapped window: %v, want ErrNotViewable", err)
	}
	_ = xproto.DestroyWindowChecked(x.x, win).Check()
	x.x.Sync()
	if _, err := p.Thumbnail(context.Background(), s.ID, 240); !errors.Is(err, ErrSourceGone) {
		t.Errorf("thumbnail of a closed window: %v, want ErrSourceGone", err)
	}
	// The package-level form.
	if img, err := Thumbnail(context.Background(), "screen:root", 100); err != nil || img.Rect.Dx() > 100 {
		t.Errorf("Thumbnail: %v, %v", img.Rect, err)
	}
}

func TestX11BadIDs(t *testing.T) {
	needX(t)
	defer test.CheckRoutines(t)()
	x := newXClient(t) // the X server resets when its last client leaves
	defer x.x.Close()
	for _, id := range []string{"", "screen", "screen:1", "monitor:", "monitor:NO-SUCH-OUTPUT", "window:", "window:12",
		"window:0x0", "window:0xzz", "window:0xfffffff0", "nonsense:1"} {
		if src, err := Open(context.Background(), id, Options{}); !errors.Is(err, ErrNoSource) {
			if src != nil {
				src.Close()
			}
			t.Errorf("Open(%q) = %v, want ErrNoSource", id, err)
		}
		if _, err := Thumbnail(context.Background(), id, 100); err == nil {
			t.Errorf("Thumbnail(%q) succeeded", id)
		}
	}
}

func TestX11ContextEndsWait(t *testing.T) {
	needX(t)
	defer test.CheckRoutines(t)()
	x := newXClient(t) // the X server resets when its last client leaves
	defer x.x.Close()
	src, err := Open(context.Background(), "screen:root", Options{FPS: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.ReadFrame(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	if _, err := src.ReadFrame(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadFrame with a cancelled context: %v", err)
	}
}

func TestX11XWaylandNoScreens(t *testing.T) {
	needX(t)
	defer test.CheckRoutines(t)()
	x := newXClient(t) // the X server resets when its last client leaves
	defer x.x.Close()
	t.Setenv("WAYLAND_DISPLAY", "wayland-0") // and DISPLAY: XWayland
	srcs, err := ListSources(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range srcs {
		if s.Kind == KindScreen {
			t.Errorf("screen listed under XWayland: %+v", s)
		}
	}
	if _, err := Open(context.Background(), "screen:root", Options{}); !errors.Is(err, ErrWayland) {
		t.Errorf("Open screen under XWayland: %v, want ErrWayland", err)
	}
}

// BenchmarkX11CaptureScreen captures the whole (Xvfb: 1920x1080) screen
// into I420, as fast as it goes.
func BenchmarkX11CaptureScreen(b *testing.B) {
	needX(b)
	x := newXClient(b)
	defer x.x.Close()
	src, err := Open(context.Background(), "screen:root", Options{FPS: 1000, MaxWidth: 4096, MaxHeight: 4096})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	c := src.(*capture)
	b.Logf("shared memory: %v, composite: %v", !c.c.noShm, c.c.composite)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := src.ReadFrame(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
