package fake

import (
	"context"
	"errors"
	"image"
	"image/color"
	"math"
	"time"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/ui"
)

// ErrNoSource is returned for a screen source the fake does not list.
var ErrNoSource = errors.New("fake: no such screen or window")

// ScreenSources are what the fake offers to share: the whole screen and
// two windows.
var ScreenSources = []ui.ScreenSource{
	{ID: "screen:0", Title: "Entire screen (1920×1080)"},
	{ID: "window:0x3a00007", Title: "Quarterly report – LibreOffice Calc", Window: true},
	{ID: "window:0x4c0000a", Title: "mxcall – Terminal", Window: true},
}

// Desktop colours of the fake's screen sources (backdrop, window, accent),
// one per source in ScreenSources' order.
var screenColors = [][3]color.RGBA{
	{{0x2e, 0x34, 0x40, 0xff}, {0xec, 0xef, 0xf4, 0xff}, {0x5e, 0x81, 0xac, 0xff}},
	{{0xf4, 0xf4, 0xf4, 0xff}, {0xff, 0xff, 0xff, 0xff}, {0x21, 0x96, 0x53, 0xff}},
	{{0x1e, 0x1e, 0x1e, 0xff}, {0x30, 0x30, 0x30, 0xff}, {0x4e, 0xc9, 0xb0, 0xff}},
}

// ScreenScene draws a synthetic shared screen into dst: a backdrop, a
// window with a title bar and lines of "text", and a pointer that moves
// with t. kind picks the colours (an index into ScreenSources).
// Deterministic for a given t.
func ScreenScene(dst *image.RGBA, t time.Duration, kind int) {
	c := screenColors[((kind%len(screenColors))+len(screenColors))%len(screenColors)]
	b := dst.Bounds()
	w, h := b.Dx(), b.Dy()
	fill := func(x0, y0, x1, y1 int, col color.RGBA) {
		x0, y0 = max(x0, 0), max(y0, 0)
		x1, y1 = min(x1, w), min(y1, h)
		for y := y0; y < y1; y++ {
			row := dst.Pix[y*dst.Stride:]
			for x := x0; x < x1; x++ {
				i := x * 4
				row[i], row[i+1], row[i+2], row[i+3] = col.R, col.G, col.B, 0xff
			}
		}
	}
	fill(0, 0, w, h, c[0])
	// A window of 80 % of the screen with a title bar.
	wx0, wy0, wx1, wy1 := w/10, h/10, w*9/10, h*9/10
	fill(wx0, wy0, wx1, wy1, c[1])
	fill(wx0, wy0, wx1, wy0+max(h/18, 2), c[2])
	// Lines of text: grey bars of varying length.
	line := max(h/30, 2)
	grey := color.RGBA{0x80, 0x84, 0x8c, 0xff}
	for i, y := 0, wy0+h/18+line; y+line < wy1-line; i, y = i+1, y+2*line {
		n := 40 + (i*37)%50
		fill(wx0+w/30, y, wx0+w/30+(wx1-wx0-w/15)*n/100, y+line*2/3, grey)
	}
	// A chart in the window's right half.
	for i := 0; i < 6; i++ {
		bh := (wy1 - wy0) * (20 + (i*23)%60) / 200
		x := wx0 + (wx1-wx0)*(60+i*6)/100
		fill(x, wy1-h/20-bh, x+(wx1-wx0)*4/100, wy1-h/20, c[2])
	}
	// The pointer, moving.
	sec := t.Seconds()
	px := int(float64(w) * (0.5 + 0.3*math.Sin(sec*0.7)))
	py := int(float64(h) * (0.5 + 0.25*math.Cos(sec*0.5)))
	fill(px, py, px+max(w/80, 2), py+max(h/45, 2), color.RGBA{0xff, 0xff, 0xff, 0xff})
}

// ProduceScreen fills slot with w×h ScreenScene frames of kind at fps until
// ctx ends, as a screen-share decoder would.
func ProduceScreen(ctx context.Context, slot *FrameSlot, w, h, fps, kind int) {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	start := time.Now()
	t := time.NewTicker(time.Second / time.Duration(fps))
	defer t.Stop()
	for {
		ScreenScene(img, time.Since(start), kind)
		slot.Put(img)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ---- screen sharing (ui.Calls, ui.Media) ----

// ScreenSources implements ui.Media: ScreenSources, or ScreenErr.
func (b *Backend) ScreenSources(ctx context.Context) ([]ui.ScreenSource, error) {
	b.record("screen-sources")
	if b.ScreenErr != nil {
		return nil, b.ScreenErr
	}
	return append([]ui.ScreenSource(nil), ScreenSources...), nil
}

// ScreenThumbnail implements ui.Media: a 16:9 ScreenScene of the source
// at b's clock (so a picker's thumbnails move while time passes).
func (b *Backend) ScreenThumbnail(ctx context.Context, id string, maxWidth int) (*image.RGBA, error) {
	b.mu.Lock()
	b.thumbs++
	b.mu.Unlock()
	if b.ScreenErr != nil {
		return nil, b.ScreenErr
	}
	for i, s := range ScreenSources {
		if s.ID == id {
			w := max(min(maxWidth, 320), 16)
			img := image.NewRGBA(image.Rect(0, 0, w, w*9/16))
			ScreenScene(img, time.Duration(b.now().UnixNano()%int64(time.Hour)), i)
			return img, nil
		}
	}
	return nil, ErrNoSource
}

// Thumbnails returns how many thumbnails were asked for.
func (b *Backend) Thumbnails() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.thumbs
}

// StartScreenshare implements ui.Calls: it records the share (ShareErr,
// when set, fails it).
func (b *Backend) StartScreenshare(ctx context.Context, callID, sourceID string) error {
	b.record("share %s %s", callID, sourceID)
	if b.ShareErr != nil {
		return b.ShareErr
	}
	if _, ok := b.Call(callID); !ok {
		return callengine.ErrNoSuchCall
	}
	known := false
	for _, s := range ScreenSources {
		known = known || s.ID == sourceID
	}
	if !known {
		return ErrNoSource
	}
	b.mu.Lock()
	b.sharing[callID] = sourceID
	b.mu.Unlock()
	return b.Update(callID, func(c *callengine.CallInfo) { c.Screensharing = true })
}

// StopScreenshare implements ui.Calls.
func (b *Backend) StopScreenshare(ctx context.Context, callID string) error {
	b.record("unshare %s", callID)
	b.mu.Lock()
	delete(b.sharing, callID)
	b.mu.Unlock()
	if _, ok := b.Call(callID); !ok {
		return nil
	}
	return b.Update(callID, func(c *callengine.CallInfo) { c.Screensharing = false })
}

// EndShare ends our share in a call by itself, as the backend does when
// the shared window is closed.
func (b *Backend) EndShare(callID string) error {
	b.mu.Lock()
	delete(b.sharing, callID)
	b.mu.Unlock()
	return b.Update(callID, func(c *callengine.CallInfo) { c.Screensharing = false })
}

// Sharing returns what a call shares ("" when nothing).
func (b *Backend) Sharing(callID string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sharing[callID]
}

// RemoteScreen implements ui.Media: RemoteScreenSlot while SetRemoteShare
// says the peer shares.
func (b *Backend) RemoteScreen(callID string) ui.FrameSource {
	b.mu.Lock()
	on := b.remoteShare[callID]
	b.mu.Unlock()
	if !on || b.RemoteScreenSlot == nil {
		return nil
	}
	return b.RemoteScreenSlot
}

// SetRemoteShare makes the peer of a call start (true) or stop sharing
// its screen, and emits the call's state again, as an engine reports a
// renegotiation.
func (b *Backend) SetRemoteShare(callID string, on bool) error {
	b.mu.Lock()
	if on {
		b.remoteShare[callID] = true
	} else {
		delete(b.remoteShare, callID)
	}
	b.mu.Unlock()
	return b.Update(callID, func(*callengine.CallInfo) {})
}
