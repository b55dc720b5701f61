package ui

import (
	"image"
	"image/color"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/widget"
	"golang.org/x/image/draw"
)

// DefaultVideoRate is how often a VideoView looks for a new frame: once per
// display frame of a 60 Hz screen. It repaints only when a frame arrived.
const DefaultVideoRate = 60

// VideoView draws the frames of a FrameSource into a canvas.Image, keeping
// their aspect ratio, over a black background. While no frame has arrived it
// shows its placeholder (if any).
//
// It owns two *image.RGBA buffers: frames are copied into the one not on
// screen, then swapped in through fyne.Do. A new copy starts only after the
// previous swap ran, so the painter never reads a buffer being written.
type VideoView struct {
	widget.BaseWidget

	img         *canvas.Image
	bars        [2]*canvas.Rectangle // black: the whole view, or the letterbox bars beside the picture
	aspect      float32              // of the picture the bars were laid out for (0: none)
	placeholder fyne.CanvasObject
	do          func(func()) // fyne.Do, or the UI's guarded form (config.do)

	mu     sync.Mutex // guards src, last, reset and stop
	src    FrameSource
	last   FrameSource // the last non-nil source
	reset  bool        // the poller must forget seq
	stop   chan struct{}
	closed sync.WaitGroup

	// Owned by the polling goroutine (or the caller of Poll).
	bufs [2]*image.RGBA
	raw  *image.RGBA // full-size frame when it is shrunk for the screen
	mid  *image.RGBA // raw after the box filter, before the final fit
	next int
	seq  uint64

	// target is the view's size in pixels (width<<32 | height), set on
	// layout; frames at least twice as large are shrunk before display.
	target atomic.Uint64

	pending  atomic.Bool // a swap is queued in fyne.Do
	repaints atomic.Uint64
	updates  atomic.Uint64 // fyne.Do calls queued by Poll: window repaints caused
	shown    atomic.Bool

	// hidden, when set, says the window is minimised or hidden: the view
	// then takes no frames (nothing converted, nothing painted).
	hidden *atomic.Bool
	// followers paint together with this view (see Lead); lastOwn is
	// when this view last had a frame of its own (poller-owned), now the
	// clock (time.Now; tests set it).
	followers []*VideoView
	led       bool
	lastOwn   time.Time
	now       func() time.Time
	// pollMu is held while a frame is prepared into the buffers, so that
	// Release never drops them under a leader's poller.
	pollMu sync.Mutex
}

// followIdle is how long a leading view may go without a frame of its own
// before its followers paint on their own ticks again (the peer turned
// its camera off, or its video stalled).
const followIdle = 150 * time.Millisecond

// FitFrameSource is a FrameSource that can also deliver the newest frame
// already shrunk to the size it is shown (media.FrameSlot shrinks in YUV
// before converting to RGBA, so a picture-in-picture costs a fraction of
// a full conversion). VideoView prefers it when its source has it.
type FitFrameSource interface {
	FrameSource
	// FrameFit is FrameInto with the frame shrunk to fit maxW×maxH pixels
	// (aspect ratio kept, never enlarged; ≤ 0: no limit).
	FrameFit(dst *image.RGBA, after uint64, maxW, maxH int) (out *image.RGBA, seq uint64, ok bool)
}

// NewVideoView returns an empty view; placeholder (may be nil) is shown
// until the first frame.
func NewVideoView(placeholder fyne.CanvasObject) *VideoView {
	v := &VideoView{placeholder: placeholder, do: fyne.Do, now: time.Now}
	v.bars = [2]*canvas.Rectangle{canvas.NewRectangle(color.Black), canvas.NewRectangle(color.Black)}
	v.img = canvas.NewImageFromImage(nil)
	v.img.FillMode = canvas.ImageFillContain
	// Fastest means: no CPU rescale, the GPU scales the texture with
	// GL_LINEAR. The default (Smooth) runs a CatmullRom rescale of every
	// frame on the CPU whenever the view's size differs from the frame's.
	v.img.ScaleMode = canvas.ImageScaleFastest
	v.img.Hide()
	v.ExtendBaseWidget(v)
	return v
}

// SetSource changes the frame source (nil for none). The view keeps the
// last frame of the old source until the new one delivers.
func (v *VideoView) SetSource(src FrameSource) {
	v.mu.Lock()
	if src != nil && src != v.last {
		v.reset = true // a new slot counts its frames from zero
		v.last = src
	}
	v.src = src
	v.mu.Unlock()
}

// Lead makes f paint together with v: v's poller takes f's frames too,
// and while v has frames of its own f takes a frame only when v does, so
// both are put on screen by one repaint of the window instead of two (a
// picture-in-picture that follows the main picture). When v has had no
// frame for a while, f paints on v's ticks alone. f's own Start then does
// nothing. Call it before Start, on the UI goroutine.
func (v *VideoView) Lead(f *VideoView) {
	f.led = true
	v.followers = append(v.followers, f)
}

// Start polls the source rate times a second on a goroutine of its own
// until Stop. Calling Start on a running view, or on one led by another
// (Lead), does nothing.
func (v *VideoView) Start(rate int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stop != nil || v.led {
		return
	}
	if rate <= 0 {
		rate = DefaultVideoRate
	}
	stop := make(chan struct{})
	v.stop = stop
	v.closed.Add(1)
	go func() {
		defer v.closed.Done()
		pollEvery(rate, stop, v.Poll)
	}()
}

// pollEvery calls poll rate times a second until stop is closed.
func pollEvery(rate int, stop <-chan struct{}, poll func() bool) {
	t := time.NewTicker(time.Second / time.Duration(rate))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			poll()
		}
	}
}

// Stop ends polling and waits for the poller to exit. Idempotent.
func (v *VideoView) Stop() {
	v.mu.Lock()
	stop := v.stop
	v.stop = nil
	v.mu.Unlock()
	if stop != nil {
		close(stop)
		v.closed.Wait()
	}
}

// Release stops polling, detaches the source and lets go of every
// picture the view holds (its frame buffers and the one on screen), for a
// view that is taken down: Fyne keeps widgets that left the window in its
// caches for a minute or more, and a frame source pins its call's decoder
// slot. The view shows its placeholder; SetSource and Start make it live
// again. Call it on the UI goroutine. Idempotent.
func (v *VideoView) Release() {
	v.Stop()
	v.Clear()
	v.mu.Lock()
	v.last = nil
	v.mu.Unlock()
	// The poller has exited (or, for a led view, finds the source gone),
	// and a swap it queued finds the source gone: the buffers are ours.
	v.pollMu.Lock()
	v.bufs = [2]*image.RGBA{}
	v.raw, v.mid = nil, nil
	v.seq = 0
	v.pollMu.Unlock()
	if v.img.Image != nil {
		v.img.Image = nil
		v.img.Refresh() // frees the texture while the view is still on a canvas
	}
}

// Poll takes the newest frame from the source, if there is one the view
// has not shown yet, and swaps it in through fyne.Do; the views it leads
// (Lead) are polled too and swapped in by the same fyne.Do. It reports
// whether a repaint was queued. Nothing is taken while the window is
// minimised or hidden. Only one goroutine may call Poll at a time (the
// poller started by Start, or a test).
func (v *VideoView) Poll() bool {
	if v.pending.Load() {
		return false // the previous frame is not on screen yet: drop this tick
	}
	if v.hidden != nil && v.hidden.Load() {
		return false
	}
	own := v.prepare()
	now := v.now()
	if own != nil {
		v.lastOwn = now
	}
	var led []func()
	if own != nil || now.Sub(v.lastOwn) >= followIdle {
		for _, f := range v.followers {
			if c := f.prepare(); c != nil {
				led = append(led, c)
			}
		}
	}
	if own == nil && led == nil {
		return false
	}
	v.pending.Store(true)
	v.updates.Add(1)
	v.do(func() {
		defer v.pending.Store(false)
		if own != nil {
			own()
		}
		for _, c := range led {
			c()
		}
	})
	return true
}

// prepare copies the source's newest frame, if it is new, into the buffer
// not on screen and returns the function that swaps it in (to be run on
// the UI goroutine), or nil.
func (v *VideoView) prepare() func() {
	v.pollMu.Lock()
	defer v.pollMu.Unlock()
	v.mu.Lock()
	src, reset := v.src, v.reset
	v.reset = false
	v.mu.Unlock()
	if reset {
		v.seq = 0
	}
	if src == nil {
		return nil
	}
	var out *image.RGBA
	var seq uint64
	var ok bool
	tw, th := v.targetSize()
	mode := canvas.ImageScaleFastest
	if fs, fit := src.(FitFrameSource); fit {
		// Shrunk at the source, before the RGBA conversion; a frame that
		// fits is converted at its own size and the GPU scales it.
		v.raw, v.mid = nil, nil
		if out, seq, ok = fs.FrameFit(v.bufs[v.next], v.seq, tw, th); !ok || out == nil {
			return nil
		}
	} else {
		if out, seq, ok = v.frameRGBA(src, tw, th); !ok {
			return nil
		}
		// A shrunk frame has the view's size in pixels: draw it 1:1.
		if v.raw != nil {
			mode = canvas.ImageScalePixels
		}
	}
	v.bufs[v.next] = out
	v.next = 1 - v.next
	v.seq = seq
	return func() {
		v.mu.Lock()
		cur := v.src
		v.mu.Unlock()
		if cur != src {
			return // cleared or switched while the frame was on its way
		}
		v.img.Image = out
		v.img.ScaleMode = mode
		if a := aspectOf(out); a != v.aspect {
			v.aspect = a
			v.layoutBars(v.Size())
		}
		if !v.shown.Swap(true) {
			v.img.Show()
			if v.placeholder != nil {
				v.placeholder.Hide()
			}
			// Refresh the widget, not just the image: an object that was
			// hidden is not known to the canvas until its parent is walked
			// again, so the image's own Refresh would be lost and the view
			// stay black while nothing else on screen changes.
			v.Refresh()
		}
		v.img.Refresh()
		v.repaints.Add(1)
	}
}

// frameRGBA takes a frame from a source that gives full-size RGBA only
// and shrinks it here when it is at least twice the view's size.
func (v *VideoView) frameRGBA(src FrameSource, tw, th int) (out *image.RGBA, seq uint64, ok bool) {
	if v.raw != nil && !tooBig(v.raw, tw, th) {
		v.raw = nil // the view grew: show frames as they come again
	}
	if v.raw != nil {
		// Frames at least twice the view's size (a picture-in-picture of
		// a 640×480 camera) are copied into raw and shrunk for the screen.
		v.raw, seq, ok = src.FrameInto(v.raw, v.seq)
		if !ok || v.raw == nil {
			return nil, 0, false
		}
		out, v.mid = shrink(v.bufs[v.next], v.mid, v.raw, tw, th)
		return out, seq, true
	}
	if out, seq, ok = src.FrameInto(v.bufs[v.next], v.seq); !ok || out == nil {
		return nil, 0, false
	}
	if tooBig(out, tw, th) {
		v.raw = image.NewRGBA(out.Rect) // shrink from the next frame on
	}
	return out, seq, true
}

// Clear detaches the source and goes back to the placeholder, e.g. when the
// peer turns its camera off or the call ends. Call it on the UI goroutine.
func (v *VideoView) Clear() {
	v.SetSource(nil)
	v.shown.Store(false)
	v.img.Hide()
	v.aspect = 0
	v.layoutBars(v.Size())
	if v.placeholder != nil {
		v.placeholder.Show()
	}
}

// Showing reports whether a frame (not the placeholder) is on screen.
func (v *VideoView) Showing() bool { return v.shown.Load() }

// Repaints returns how many frames have been put on screen.
func (v *VideoView) Repaints() uint64 { return v.repaints.Load() }

// Updates returns how many UI updates (each one repaint of the window)
// the view's polling has queued, for the frames of this view and of the
// views it leads together.
func (v *VideoView) Updates() uint64 { return v.updates.Load() }

// CreateRenderer implements fyne.Widget.
func (v *VideoView) CreateRenderer() fyne.WidgetRenderer {
	objs := []fyne.CanvasObject{v.bars[0], v.bars[1], v.img}
	if v.placeholder != nil {
		objs = append(objs, v.placeholder)
	}
	return &videoRenderer{v: v, objs: objs}
}

type videoRenderer struct {
	v    *VideoView
	objs []fyne.CanvasObject
}

func (r *videoRenderer) Layout(s fyne.Size) {
	for _, o := range r.objs {
		o.Move(fyne.Position{})
		o.Resize(s)
	}
	r.v.layoutBars(s)
	scale := float32(1)
	if c := fyne.CurrentApp().Driver().CanvasForObject(r.v); c != nil {
		scale = c.Scale()
	}
	w, h := uint64(s.Width*scale), uint64(s.Height*scale)
	r.v.target.Store(w<<32 | h&0xffffffff)
}

// layoutBars paints black only where the picture is not: beside it (the
// letterbox bars of ImageFillContain, placed as Fyne's painter places the
// picture), or the whole view while no picture is shown. Under a software
// painter every pixel drawn twice per frame costs: a full-size background
// under the picture was about as many pixels as the picture itself.
func (v *VideoView) layoutBars(s fyne.Size) {
	a, b := v.bars[0], v.bars[1]
	a.Move(fyne.Position{})
	var pad float32
	view := float32(0)
	if s.Height > 0 {
		view = s.Width / s.Height
	}
	switch {
	case v.aspect <= 0 || view <= 0:
		a.Resize(s) // no picture: all black
		a.Show()
		b.Hide()
		return
	// Each bar reaches a unit under the picture (drawn over it) and has
	// whole-unit edges, so that rounding to pixels leaves no seam between
	// bar and picture or at the view's edges.
	case view > v.aspect: // bars left and right
		pad = (s.Width - s.Height*v.aspect) / 2
		w := float32(math.Ceil(float64(pad) + 1))
		a.Resize(fyne.NewSize(w, s.Height))
		x := float32(math.Floor(float64(s.Width - w)))
		b.Move(fyne.NewPos(x, 0))
		b.Resize(fyne.NewSize(s.Width-x, s.Height))
	case view < v.aspect: // above and below
		pad = (s.Height - s.Width/v.aspect) / 2
		h := float32(math.Ceil(float64(pad) + 1))
		a.Resize(fyne.NewSize(s.Width, h))
		y := float32(math.Floor(float64(s.Height - h)))
		b.Move(fyne.NewPos(0, y))
		b.Resize(fyne.NewSize(s.Width, s.Height-y))
	}
	if pad <= 0 { // the picture fills the view
		a.Hide()
		b.Hide()
		return
	}
	a.Show()
	b.Show()
}

// aspectOf is img's width over its height.
func aspectOf(img *image.RGBA) float32 {
	if img.Rect.Dy() == 0 {
		return 0
	}
	return float32(img.Rect.Dx()) / float32(img.Rect.Dy())
}

// targetSize returns the view's last laid-out size in pixels (0, 0 before
// the first layout).
func (v *VideoView) targetSize() (int, int) {
	t := v.target.Load()
	return int(t >> 32), int(t & 0xffffffff)
}

// tooBig reports whether img is at least twice as wide and high as tw×th.
func tooBig(img *image.RGBA, tw, th int) bool {
	return tw > 0 && th > 0 && img.Rect.Dx() >= 2*tw && img.Rect.Dy() >= 2*th
}

// shrink returns src made to fit tw×th (keeping its aspect ratio) in dst,
// reallocated when its size is wrong: first averaged down by the largest
// whole factor that keeps it at least as large as tw×th (a box filter, into
// mid, which it returns for reuse), then scaled the rest of the way
// bilinearly. Shrinking on the poller keeps the texture small: the GPU (or
// llvmpipe) uploads and samples a 240×180 texture for a 240×180
// picture-in-picture instead of a 640×480 or 1280×720 one.
func shrink(dst, mid, src *image.RGBA, tw, th int) (out, midOut *image.RGBA) {
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	fw, fh := fitSize(sw, sh, tw, th)
	k := max(min(sw/fw, sh/fh), 1)
	mid = boxShrink(mid, src, k)
	if mid.Rect.Dx() == fw && mid.Rect.Dy() == fh {
		// The box filter alone fits: hand its buffer out, and keep dst
		// (not on screen either) for the next frame's box filter.
		return mid, dst
	}
	if dst == nil || dst.Rect.Dx() != fw || dst.Rect.Dy() != fh {
		dst = image.NewRGBA(image.Rect(0, 0, fw, fh))
	}
	draw.ApproxBiLinear.Scale(dst, dst.Rect, mid, mid.Rect, draw.Src, nil)
	return dst, mid
}

// fitSize is the largest size with sw:sh's aspect within tw×th.
func fitSize(sw, sh, tw, th int) (int, int) {
	fw, fh := tw, (tw*sh+sw/2)/sw
	if fh > th {
		fw, fh = (th*sw+sh/2)/sh, th
	}
	return max(fw, 1), max(fh, 1)
}

// boxShrink averages src down by k (k×k pixels to one) into dst,
// reallocated when its size is wrong.
func boxShrink(dst, src *image.RGBA, k int) *image.RGBA {
	w, h := src.Rect.Dx()/k, src.Rect.Dy()/k
	if dst == nil || dst.Rect.Dx() != w || dst.Rect.Dy() != h {
		dst = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	if k == 1 {
		for y := 0; y < h; y++ {
			copy(dst.Pix[y*dst.Stride:y*dst.Stride+w*4], src.Pix[y*src.Stride:])
		}
		return dst
	}
	n := uint32(k * k)
	for y := 0; y < h; y++ {
		drow := dst.Pix[y*dst.Stride:]
		for x := 0; x < w; x++ {
			var r, g, b, a uint32
			for yy := 0; yy < k; yy++ {
				p := src.Pix[(y*k+yy)*src.Stride+x*k*4:]
				for xx := 0; xx < k*4; xx += 4 {
					r += uint32(p[xx])
					g += uint32(p[xx+1])
					b += uint32(p[xx+2])
					a += uint32(p[xx+3])
				}
			}
			i := x * 4
			drow[i], drow[i+1], drow[i+2], drow[i+3] = uint8(r/n), uint8(g/n), uint8(b/n), uint8(a/n)
		}
	}
	return dst
}

func (r *videoRenderer) MinSize() fyne.Size {
	if r.v.placeholder != nil {
		return r.v.placeholder.MinSize()
	}
	return fyne.NewSize(32, 24)
}

func (r *videoRenderer) Refresh() {
	for _, o := range r.objs {
		o.Refresh()
	}
}

func (r *videoRenderer) Objects() []fyne.CanvasObject { return r.objs }
func (r *videoRenderer) Destroy()                     {}
