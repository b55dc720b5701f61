package ui_test

import (
	"context"
	"image"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"

	"github.com/mxcall/mxcall/ui"
	"github.com/mxcall/mxcall/ui/fake"
)

// TestVideoViewLive runs the poller against a 30 fps producer: it must
// repaint, never more often than frames arrive, and stop cleanly.
func TestVideoViewLive(t *testing.T) {
	test.NewTempApp(t)
	slot := &fake.FrameSlot{}
	v := ui.NewVideoView(nil)
	v.SetSource(slot)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { fake.Produce(ctx, slot, 320, 240, 30, fake.RemoteColors); close(done) }()
	v.Start(60)
	deadline := time.Now().Add(5 * time.Second)
	for v.Repaints() < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	v.Stop()
	v.Stop() // idempotent
	cancel()
	<-done
	if v.Repaints() < 5 {
		t.Fatalf("only %d repaints", v.Repaints())
	}
	if v.Repaints() > slot.Seq() {
		t.Fatalf("%d repaints for %d frames", v.Repaints(), slot.Seq())
	}
	if !v.Showing() {
		t.Fatal("frame not shown")
	}
}

func TestVideoViewResize(t *testing.T) {
	test.NewTempApp(t)
	slot := &fake.FrameSlot{}
	v := ui.NewVideoView(nil)
	v.SetSource(slot)
	for _, sz := range []image.Point{{64, 48}, {128, 72}, {64, 48}} {
		slot.Put(image.NewRGBA(image.Rectangle{Max: sz}))
		if !v.Poll() {
			t.Fatalf("no repaint for a %v frame", sz)
		}
	}
	if v.Poll() {
		t.Fatal("repaint without a new frame")
	}
}

// BenchmarkVideoViewPoll720p measures one frame's trip from the slot to
// the canvas.Image (copy into the spare buffer and swap).
func BenchmarkVideoViewPoll720p(b *testing.B) {
	test.NewTempApp(b)
	slot := &fake.FrameSlot{}
	frame := image.NewRGBA(image.Rect(0, 0, 1280, 720))
	v := ui.NewVideoView(nil)
	v.SetSource(slot)
	b.SetBytes(int64(len(frame.Pix)))
	for i := 0; i < b.N; i++ {
		slot.Put(frame)
		if !v.Poll() {
			b.Fatal("no repaint")
		}
	}
}

// BenchmarkScene720p is the cost of drawing one synthetic preview frame.
func BenchmarkScene720p(b *testing.B) {
	img := image.NewRGBA(image.Rect(0, 0, 1280, 720))
	for i := 0; i < b.N; i++ {
		fake.Scene(img, time.Duration(i)*time.Millisecond, fake.RemoteColors[0], fake.RemoteColors[1], fake.RemoteColors[2])
	}
}

// A new source starts counting frames from one again; the view must not
// ignore it because an older source had reached a higher count.
func TestVideoViewNewSource(t *testing.T) {
	test.NewTempApp(t)
	a, b := &fake.FrameSlot{}, &fake.FrameSlot{}
	for i := 0; i < 5; i++ {
		a.Put(image.NewRGBA(image.Rect(0, 0, 8, 8)))
	}
	b.Put(image.NewRGBA(image.Rect(0, 0, 8, 8)))
	v := ui.NewVideoView(nil)
	v.SetSource(a)
	if !v.Poll() {
		t.Fatal("no frame from the first source")
	}
	v.SetSource(b)
	if !v.Poll() {
		t.Fatal("frame of the new source ignored")
	}
	v.Clear()
	a.Put(image.NewRGBA(image.Rect(0, 0, 8, 8)))
	if v.Poll() || v.Showing() {
		t.Fatal("a cleared view took a frame")
	}
}

// A frame much larger than the view is shrunk to the view's size in pixels
// (box filter, then bilinear) and drawn 1:1.
func TestVideoViewShrinksLargeFrames(t *testing.T) {
	v, slot := sizedView(t, 100, 75)
	big := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for i := range big.Pix {
		big.Pix[i] = 200
	}
	for i := 0; i < 2; i++ { // the first frame is shown as is, later ones shrunk
		slot.Put(big)
		if !v.Poll() {
			t.Fatal("no repaint")
		}
	}
	img := findImage(t, v)
	if got := img.Bounds().Size(); got != (image.Point{X: 100, Y: 75}) {
		t.Fatalf("shown frame is %v, want 100x75 (the view)", got)
	}
	if m := findCanvasImage(t, v).ScaleMode; m != canvas.ImageScalePixels {
		t.Errorf("scale mode %v, want pixels (1:1)", m)
	}
	if c := img.(*image.RGBA).RGBAAt(10, 10); c.R != 200 || c.A != 200 {
		t.Fatalf("averaged pixel %v", c)
	}
}

// sizedView is a VideoView filling an unpadded test window of w×h, fed by
// a fake slot.
func sizedView(tb testing.TB, w, h float32) (*ui.VideoView, *fake.FrameSlot) {
	tb.Helper()
	test.NewTempApp(tb)
	slot := &fake.FrameSlot{}
	v := ui.NewVideoView(nil)
	win := test.NewTempWindow(tb, v)
	win.SetPadded(false)
	win.Resize(fyne.NewSize(w, h))
	v.SetSource(slot)
	return v, slot
}

func findImage(t *testing.T, v *ui.VideoView) image.Image {
	t.Helper()
	return findCanvasImage(t, v).Image
}

func findCanvasImage(t *testing.T, v *ui.VideoView) *canvas.Image {
	t.Helper()
	for _, o := range test.WidgetRenderer(v).Objects() {
		if ci, ok := o.(*canvas.Image); ok {
			return ci
		}
	}
	t.Fatal("no canvas.Image")
	return nil
}

// BenchmarkVideoViewPollShrink is the cost of shrinking one 640×480 camera
// frame for a 236×177 picture-in-picture (box filter by 2, then bilinear).
func BenchmarkVideoViewPollShrink(b *testing.B) {
	v, slot := sizedView(b, 236, 177)
	frame := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for i := 0; i < b.N; i++ {
		slot.Put(frame)
		if !v.Poll() {
			b.Fatal("no repaint")
		}
	}
}
