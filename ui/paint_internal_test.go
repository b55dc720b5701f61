package ui

import (
	"image"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
)

// fitSource is a FitFrameSource that counts the frames it hands out
// (conversions, for a real slot) and records the size it was asked for.
type fitSource struct {
	mu         sync.Mutex
	seq        uint64 // newest frame
	taken      int    // frames handed out
	maxW, maxH int    // last size asked for
	plain      int    // FrameInto calls (must not happen)
}

func (f *fitSource) put() {
	f.mu.Lock()
	f.seq++
	f.mu.Unlock()
}

func (f *fitSource) FrameInto(dst *image.RGBA, after uint64) (*image.RGBA, uint64, bool) {
	f.mu.Lock()
	f.plain++
	f.mu.Unlock()
	return f.FrameFit(dst, after, 0, 0)
}

func (f *fitSource) FrameFit(dst *image.RGBA, after uint64, maxW, maxH int) (*image.RGBA, uint64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maxW, f.maxH = maxW, maxH
	if f.seq <= after {
		return dst, after, false
	}
	f.taken++
	w, h := 64, 48
	if maxW > 0 && maxH > 0 {
		w, h = min(w, maxW), min(h, maxH)
	}
	if dst == nil || dst.Rect.Dx() != w || dst.Rect.Dy() != h {
		dst = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	return dst, f.seq, true
}

func (f *fitSource) counts() (taken, plain int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.taken, f.plain
}

// paintRig is a remote view leading a self-view, as on the call screen,
// with a clock the test moves and a count of the UI updates queued (each
// one is a repaint of the window).
type paintRig struct {
	remote, local *VideoView
	rsrc, lsrc    *fitSource
	clock         time.Time
	updates       int
}

func newPaintRig(t *testing.T) *paintRig {
	t.Helper()
	test.NewTempApp(t)
	r := &paintRig{rsrc: &fitSource{}, lsrc: &fitSource{}, clock: time.Unix(1000, 0)}
	r.remote, r.local = NewVideoView(nil), NewVideoView(nil)
	for _, v := range []*VideoView{r.remote, r.local} {
		v.now = func() time.Time { return r.clock }
		v.do = func(f func()) { r.updates++; f() }
	}
	r.remote.Lead(r.local)
	r.remote.SetSource(r.rsrc)
	r.local.SetSource(r.lsrc)
	return r
}

// TestSelfViewPaintsWithRemote: with both pictures running, each remote
// frame costs one repaint that carries the newest self-view frame too;
// the self-view alone never triggers one.
func TestSelfViewPaintsWithRemote(t *testing.T) {
	r := newPaintRig(t)
	for i := range 30 {
		r.clock = r.clock.Add(16 * time.Millisecond) // 60 Hz ticks
		if i%2 == 0 {
			r.rsrc.put() // 30 fps remote
		}
		r.lsrc.put() // the camera, out of phase with the remote
		r.remote.Poll()
	}
	if r.updates != 15 || r.remote.Updates() != 15 {
		t.Errorf("%d repaints (%d counted) for 15 remote frames, want 15 (one each)", r.updates, r.remote.Updates())
	}
	if got := r.local.Repaints(); got != 15 {
		t.Errorf("self-view shown %d times, want 15 (with every remote frame)", got)
	}
	if taken, _ := r.lsrc.counts(); taken != 15 {
		t.Errorf("%d self-view frames converted, want 15: frames between remote ones are skipped", taken)
	}
	if r.local.Start(60); r.local.stop != nil {
		t.Error("a led view started a poller of its own")
	}
}

// TestSelfViewAloneWhenRemoteStops: when the remote picture stops (camera
// off, stalled), the self-view goes on at its own rate after followIdle.
func TestSelfViewAloneWhenRemoteStops(t *testing.T) {
	r := newPaintRig(t)
	r.rsrc.put()
	r.remote.Poll()
	r.clock = r.clock.Add(followIdle / 2)
	r.lsrc.put()
	if r.remote.Poll() {
		t.Fatal("self-view painted alone while the remote picture runs")
	}
	r.clock = r.clock.Add(followIdle)
	if !r.remote.Poll() || r.local.Repaints() != 1 {
		t.Fatal("self-view not painted once the remote picture stopped")
	}
}

// TestHiddenWindowTakesNoFrames: while the window is minimised nothing is
// taken from the sources (so nothing converted) and nothing repainted;
// the newest frame comes back at once when it is restored.
func TestHiddenWindowTakesNoFrames(t *testing.T) {
	r := newPaintRig(t)
	var cfg config
	r.remote.hidden, r.local.hidden = &cfg.hidden, &cfg.hidden
	cfg.hidden.Store(true)
	for range 20 {
		r.clock = r.clock.Add(33 * time.Millisecond)
		r.rsrc.put()
		r.lsrc.put()
		r.remote.Poll()
	}
	rt, _ := r.rsrc.counts()
	lt, _ := r.lsrc.counts()
	if rt != 0 || lt != 0 || r.updates != 0 {
		t.Fatalf("minimised: %d remote and %d local frames taken, %d repaints; want none", rt, lt, r.updates)
	}
	cfg.hidden.Store(false)
	if !r.remote.Poll() || r.remote.Repaints() != 1 || r.local.Repaints() != 1 {
		t.Fatal("restored window not repainted with the newest frames")
	}
}

// TestFitSourceGetsViewSize: a FitFrameSource is asked for frames at the
// view's size in pixels (it shrinks before converting); the view does no
// RGBA shrinking of its own.
func TestFitSourceGetsViewSize(t *testing.T) {
	test.NewTempApp(t)
	src := &fitSource{}
	v := NewVideoView(nil)
	win := test.NewTempWindow(t, v)
	win.SetPadded(false)
	win.Resize(fyne.NewSize(40, 30))
	v.SetSource(src)
	src.put()
	if !v.Poll() {
		t.Fatal("no repaint")
	}
	if src.maxW != 40 || src.maxH != 30 {
		t.Errorf("asked for %dx%d, want the view's 40x30", src.maxW, src.maxH)
	}
	if _, plain := src.counts(); plain != 0 || v.raw != nil || v.mid != nil {
		t.Error("the view shrank in RGBA instead of asking the source")
	}
}

// TestBlackOnlyBesideThePicture: once a picture is shown, black is drawn
// only in the letterbox bars (about 25% of a 16:9 view holding a 4:3
// picture), not under the whole picture: a software painter pays for
// every pixel it draws.
func TestBlackOnlyBesideThePicture(t *testing.T) {
	test.NewTempApp(t)
	src := &fitSource{}
	v := NewVideoView(nil)
	win := test.NewTempWindow(t, v)
	win.SetPadded(false)
	win.Resize(fyne.NewSize(160, 90))
	v.SetSource(src)
	if a := v.bars[0]; !a.Visible() || a.Size() != v.Size() || v.bars[1].Visible() {
		t.Fatal("no picture yet: want one black rectangle over the view")
	}
	src.put() // a 64x48 picture: 4:3
	v.Poll()
	var black float32
	for _, b := range v.bars {
		if b.Visible() {
			black += b.Size().Width * b.Size().Height
		}
	}
	view := v.Size().Width * v.Size().Height
	picture := float32(90*4/3) * 90
	if black < view-picture || black > view-picture+2*90 {
		t.Fatalf("black area %.0f, want the bars only (%.0f, + a unit of overlap each)", black, view-picture)
	}
	if a, b := v.bars[0], v.bars[1]; a.Position().X != 0 || b.Position().X+b.Size().Width != 160 {
		t.Errorf("bars at %v+%v and %v+%v do not reach the view's edges", a.Position(), a.Size(), b.Position(), b.Size())
	}
	v.Clear()
	if !v.bars[0].Visible() || v.bars[0].Size() != v.Size() || v.bars[1].Visible() {
		t.Error("cleared view is not all black again")
	}
}
