package media

import (
	"image"
	"testing"

	"github.com/mxcall/mxcall/media/vpx"
)

// fillI420 makes f a w×h grey picture of luma y (neutral chroma).
func fillI420(f *vpx.I420, w, h int, y byte) {
	f.Resize(w, h)
	for i := range f.Y {
		f.Y[i] = y
	}
	for i := range f.U {
		f.U[i], f.V[i] = 128, 128
	}
}

// rgbaOfLuma is the grey level the converter makes of luma y.
func rgbaOfLuma(y int) byte {
	v := (74*(y-16) + 32) >> 6
	return byte(max(0, min(255, v)))
}

func TestFrameSlotFitConvertsOnlyWhatIsTaken(t *testing.T) {
	s := NewFrameSlot()
	if _, _, ok := s.FrameFit(nil, 0, 0, 0); ok {
		t.Fatal("empty slot gave a frame")
	}
	for range 10 { // the decoder runs; nobody looks
		fillI420(s.writeFrame(), 640, 480, 120)
		s.publish()
	}
	if n := s.Conversions(); n != 0 {
		t.Fatalf("%d conversions before anyone read a frame, want 0", n)
	}
	img, seq, ok := s.FrameFit(nil, 0, 0, 0)
	if !ok || seq != 10 || img.Rect.Dx() != 640 || img.Rect.Dy() != 480 {
		t.Fatalf("FrameFit: ok=%v seq=%d size=%v, want frame 10 at 640x480", ok, seq, img.Rect)
	}
	if img.Pix[0] != rgbaOfLuma(120) {
		t.Errorf("grey %d, want %d", img.Pix[0], rgbaOfLuma(120))
	}
	same, seq2, ok := s.FrameFit(img, seq, 0, 0)
	if ok || same != img || seq2 != seq {
		t.Error("FrameFit gave the same frame again")
	}
	if n := s.Conversions(); n != 1 {
		t.Errorf("%d conversions for one frame shown, want 1", n)
	}
}

func TestFrameSlotFitSizes(t *testing.T) {
	tests := []struct {
		name         string
		w, h         int // frame
		maxW, maxH   int // view
		wantW, wantH int
	}{
		{"no limit", 640, 480, 0, 0, 640, 480},
		{"view larger: never enlarged", 640, 480, 1280, 800, 640, 480},
		{"self view", 640, 480, 240, 180, 240, 180},
		{"wide view keeps aspect", 640, 480, 400, 150, 200, 150},
		{"tall view keeps aspect", 640, 480, 160, 400, 160, 120},
		{"720p into 480p", 1280, 720, 640, 480, 640, 360},
		{"odd size", 641, 479, 321, 240, 321, 240},
		{"tiny view", 640, 480, 1, 1, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewFrameSlot()
			fillI420(s.writeFrame(), tt.w, tt.h, 200)
			s.publish()
			img, _, ok := s.FrameFit(nil, 0, tt.maxW, tt.maxH)
			if !ok || img.Rect != image.Rect(0, 0, tt.wantW, tt.wantH) {
				t.Fatalf("got %v (ok %v), want %dx%d", img.Rect, ok, tt.wantW, tt.wantH)
			}
			for i := 0; i < len(img.Pix); i += 4 {
				if img.Pix[i] != rgbaOfLuma(200) || img.Pix[i+3] != 255 {
					t.Fatalf("pixel %d is %v, want grey %d", i/4, img.Pix[i:i+4], rgbaOfLuma(200))
				}
			}
		})
	}
}

// A shrunk frame is the average of what it covers: a 1-pixel
// checkerboard becomes mid grey, not one of its colours (no aliasing).
func TestFrameSlotFitAverages(t *testing.T) {
	s := NewFrameSlot()
	f := s.writeFrame()
	fillI420(f, 64, 48, 0)
	for y := range 48 {
		for x := range 64 {
			f.Y[y*f.YStride+x] = byte(16 + 200*((x+y)%2))
		}
	}
	s.publish()
	img, _, _ := s.FrameFit(nil, 0, 16, 12)
	want := rgbaOfLuma(116)
	for i := 0; i < len(img.Pix); i += 4 {
		if d := int(img.Pix[i]) - int(want); d < -2 || d > 2 {
			t.Fatalf("pixel %d = %d, want about %d", i/4, img.Pix[i], want)
		}
	}
}

func benchFrameFit(b *testing.B, w, h, maxW, maxH int) {
	b.Helper()
	s := NewFrameSlot()
	var dst *image.RGBA
	var seq uint64
	b.ReportAllocs()
	b.SetBytes(int64(w * h * 3 / 2))
	for b.Loop() {
		fillFrame := s.writeFrame()
		if fillFrame.Width != w {
			fillI420(fillFrame, w, h, 90)
		}
		s.publish()
		var ok bool
		if dst, seq, ok = s.FrameFit(dst, seq, maxW, maxH); !ok {
			b.Fatal("no frame")
		}
	}
}

// The remote picture shown at its own size, and the self-view (640x480
// camera in a 240x180 picture-in-picture) shrunk in YUV before converting.
func BenchmarkFrameFit480pNative(b *testing.B)   { benchFrameFit(b, 640, 480, 0, 0) }
func BenchmarkFrameFit480pSelfView(b *testing.B) { benchFrameFit(b, 640, 480, 240, 180) }
func BenchmarkFrameFit720pTo480p(b *testing.B)   { benchFrameFit(b, 1280, 720, 640, 480) }
