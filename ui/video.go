package ui

import (
	"image"
	"image/color"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/widget"
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
	bg          *canvas.Rectangle
	placeholder fyne.CanvasObject

	mu     sync.Mutex // guards src, last, reset and stop
	src    FrameSource
	last   FrameSource // the last non-nil source
	reset  bool        // the poller must forget seq
	stop   chan struct{}
	closed sync.WaitGroup

	// Owned by the polling goroutine (or the caller of Poll).
	bufs [2]*image.RGBA
	next int
	seq  uint64

	pending  atomic.Bool // a swap is queued in fyne.Do
	repaints atomic.Uint64
	shown    atomic.Bool
}

// NewVideoView returns an empty view; placeholder (may be nil) is shown
// until the first frame.
func NewVideoView(placeholder fyne.CanvasObject) *VideoView {
	v := &VideoView{placeholder: placeholder}
	v.bg = canvas.NewRectangle(color.Black)
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

// Start polls the source rate times a second on a goroutine of its own
// until Stop. Calling Start on a running view does nothing.
func (v *VideoView) Start(rate int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stop != nil {
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
		t := time.NewTicker(time.Second / time.Duration(rate))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				v.Poll()
			}
		}
	}()
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

// Poll takes the newest frame from the source, if there is one the view
// has not shown yet, and swaps it in through fyne.Do. It reports whether a
// repaint was queued. Only one goroutine may call Poll at a time (the
// poller started by Start, or a test).
func (v *VideoView) Poll() bool {
	if v.pending.Load() {
		return false // the previous frame is not on screen yet: drop this tick
	}
	v.mu.Lock()
	src, reset := v.src, v.reset
	v.reset = false
	v.mu.Unlock()
	if reset {
		v.seq = 0
	}
	if src == nil {
		return false
	}
	out, seq, ok := src.FrameInto(v.bufs[v.next], v.seq)
	if !ok || out == nil {
		return false
	}
	v.bufs[v.next] = out
	v.next = 1 - v.next
	v.seq = seq
	v.pending.Store(true)
	fyne.Do(func() {
		defer v.pending.Store(false)
		v.mu.Lock()
		cur := v.src
		v.mu.Unlock()
		if cur != src {
			return // cleared or switched while the frame was on its way
		}
		v.img.Image = out
		if !v.shown.Swap(true) {
			v.img.Show()
			if v.placeholder != nil {
				v.placeholder.Hide()
			}
		}
		v.img.Refresh()
		v.repaints.Add(1)
	})
	return true
}

// Clear detaches the source and goes back to the placeholder, e.g. when the
// peer turns its camera off or the call ends. Call it on the UI goroutine.
func (v *VideoView) Clear() {
	v.SetSource(nil)
	v.shown.Store(false)
	v.img.Hide()
	if v.placeholder != nil {
		v.placeholder.Show()
	}
}

// Showing reports whether a frame (not the placeholder) is on screen.
func (v *VideoView) Showing() bool { return v.shown.Load() }

// Repaints returns how many frames have been put on screen.
func (v *VideoView) Repaints() uint64 { return v.repaints.Load() }

// CreateRenderer implements fyne.Widget.
func (v *VideoView) CreateRenderer() fyne.WidgetRenderer {
	objs := []fyne.CanvasObject{v.bg, v.img}
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
