package vpx

import (
	"errors"
	"image"
	"testing"
)

// rgb32 makes a w×h picture of 4-byte pixels filled with c (R, G, B),
// laid out as B,G,R,x when bgr.
func rgb32(w, h, stride int, bgr bool, c func(x, y int) [3]byte) []byte {
	pix := make([]byte, stride*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := c(x, y)
			o := y*stride + 4*x
			if bgr {
				pix[o], pix[o+1], pix[o+2] = p[2], p[1], p[0]
			} else {
				pix[o], pix[o+1], pix[o+2] = p[0], p[1], p[2]
			}
			pix[o+3] = 0x5a // never read
		}
	}
	return pix
}

func TestFromRGB32(t *testing.T) {
	colours := []struct {
		name string
		rgb  [3]byte
	}{
		{"black", [3]byte{0, 0, 0}}, {"white", [3]byte{255, 255, 255}}, {"red", [3]byte{255, 0, 0}},
		{"green", [3]byte{0, 255, 0}}, {"blue", [3]byte{0, 0, 255}}, {"grey", [3]byte{128, 128, 128}},
		{"orange", [3]byte{240, 140, 20}},
	}
	for _, bgr := range []bool{true, false} {
		for _, tc := range colours {
			t.Run(tc.name, func(t *testing.T) {
				const w, h, stride = 6, 4, 6*4 + 8 // padded rows
				pix := rgb32(w, h, stride, bgr, func(int, int) [3]byte { return tc.rgb })
				var f I420
				if err := f.FromRGB32(pix, stride, w, h, bgr); err != nil {
					t.Fatal(err)
				}
				want := rgbToYUVRef(tc.rgb)
				for i, got := range [3]byte{f.Y[w*h-1], f.U[len(f.U)-1], f.V[0]} {
					if d := int(got) - int(want[i]); d < -1 || d > 1 {
						t.Errorf("bgr=%v plane %d: got %d want %d", bgr, i, got, want[i])
					}
				}
				// And back: the decoder's conversion gives the colour again.
				dst := image.NewRGBA(image.Rect(0, 0, w, h))
				if err := I420ToRGBA(f.Y, f.U, f.V, dst, 1); err != nil {
					t.Fatal(err)
				}
				p := dst.RGBAAt(3, 2)
				for i, c := range [3]byte{p.R, p.G, p.B} {
					if d := int(c) - int(tc.rgb[i]); d < -3 || d > 3 {
						t.Errorf("bgr=%v round trip: got %v want %v", bgr, p, tc.rgb)
						break
					}
				}
			})
		}
	}
}

// rgbToYUVRef is BT.601 limited range in floating point.
func rgbToYUVRef(c [3]byte) [3]byte {
	r, g, b := float64(c[0]), float64(c[1]), float64(c[2])
	return [3]byte{
		byte(16 + 0.257*r + 0.504*g + 0.098*b + 0.5),
		byte(128 - 0.148*r - 0.291*g + 0.439*b + 0.5),
		byte(128 + 0.439*r - 0.368*g - 0.071*b + 0.5),
	}
}

func TestFromRGB32Chroma2x2Mean(t *testing.T) {
	// A 2x2 block of red and blue pixels: U and V are those of the mean
	// colour, so a one-pixel checkerboard does not turn into a colour cast.
	pix := rgb32(2, 2, 8, true, func(x, y int) [3]byte {
		if (x+y)%2 == 0 {
			return [3]byte{255, 0, 0}
		}
		return [3]byte{0, 0, 255}
	})
	var f I420
	if err := f.FromRGB32(pix, 8, 2, 2, true); err != nil {
		t.Fatal(err)
	}
	want := rgbToYUVRef([3]byte{128, 0, 128})
	if d := int(f.U[0]) - int(want[1]); d < -1 || d > 1 {
		t.Errorf("U = %d, want %d", f.U[0], want[1])
	}
	if d := int(f.V[0]) - int(want[2]); d < -1 || d > 1 {
		t.Errorf("V = %d, want %d", f.V[0], want[2])
	}
}

func TestFromRGB32BadInput(t *testing.T) {
	var f I420
	for _, tc := range []struct {
		name            string
		n, stride, w, h int
	}{
		{"odd width", 100, 12, 3, 2}, {"odd height", 100, 8, 2, 3}, {"zero", 100, 8, 0, 2},
		{"short stride", 100, 4, 2, 2}, {"short buffer", 15, 8, 2, 2},
	} {
		if err := f.FromRGB32(make([]byte, tc.n), tc.stride, tc.w, tc.h, true); !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: err = %v, want ErrBadFrame", tc.name, err)
		}
	}
}

// screenPicture is text-like content: dark glyph-sized strokes on white,
// with a coloured title bar; rows shift by n*3 (scrolling).
func screenPicture(w, h, n int) []byte {
	return rgb32(w, h, 4*w, true, func(x, y int) [3]byte {
		if y < 32 {
			return [3]byte{40, 90, 200}
		}
		yy := y + 3*n
		if (yy/16)%2 == 0 && yy%16 < 11 && (x/7+yy/16)%5 != 0 && (x*13+yy*7)%9 < 4 {
			return [3]byte{20, 20, 20}
		}
		return [3]byte{250, 250, 250}
	})
}

func TestScreenContentRoundTrip(t *testing.T) {
	const w, h = 640, 360
	enc, err := NewEncoder(EncoderConfig{Width: w, Height: h, FPS: 5, BitrateKbps: 1500, ScreenContent: true})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	dec, err := NewDecoder(1)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var f I420
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < 5; i++ {
		if err := f.FromRGB32(screenPicture(w, h, i), 4*w, w, h, true); err != nil {
			t.Fatal(err)
		}
		out, key, err := enc.Encode(f.Y, f.U, f.V, int64(i*200))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && !key {
			t.Fatal("first frame is not a keyframe")
		}
		pic, ok, err := dec.Decode(out)
		if err != nil || !ok {
			t.Fatalf("decode %d: %v %v", i, ok, err)
		}
		if err := pic.ToRGBA(dst, 1); err != nil {
			t.Fatal(err)
		}
	}
	// The title bar's colour and the page's white survive.
	for _, c := range []struct {
		x, y int
		want [3]byte
	}{{100, 10, [3]byte{40, 90, 200}}, {w - 3, h - 3, [3]byte{250, 250, 250}}} {
		p := dst.RGBAAt(c.x, c.y)
		for i, v := range [3]byte{p.R, p.G, p.B} {
			if d := int(v) - int(c.want[i]); d < -12 || d > 12 {
				t.Errorf("(%d,%d) = %v, want ≈ %v", c.x, c.y, p, c.want)
				break
			}
		}
	}
}

func BenchmarkFromRGB32_1080p(b *testing.B) {
	const w, h = 1920, 1080
	pix := screenPicture(w, h, 0)
	var f I420
	b.ReportAllocs()
	ct := startCPU(b)
	for i := 0; i < b.N; i++ {
		if err := f.FromRGB32(pix, 4*w, w, h, true); err != nil {
			b.Fatal(err)
		}
	}
	ct.stop(b)
}

// benchScreenEncode encodes scrolling text-like 1080p frames at 5 fps.
func benchScreenEncode(b *testing.B, cpuUsed int) {
	b.Helper()
	benchScreenEncodeN(b, cpuUsed, 8)
}

func benchScreenEncodeN(b *testing.B, cpuUsed, distinct int) {
	b.Helper()
	const w, h = 1920, 1080
	enc, err := NewEncoder(EncoderConfig{Width: w, Height: h, FPS: 5, BitrateKbps: 2500, ScreenContent: true, CPUUsed: cpuUsed})
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	frames := make([]I420, distinct)
	for i := range frames {
		if err := frames[i].FromRGB32(screenPicture(w, h, i), 4*w, w, h, true); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 3 {
		f := &frames[i%len(frames)]
		enc.Encode(f.Y, f.U, f.V, int64(i*200))
	}
	bytes := 0
	ct := startCPU(b)
	for i := 0; i < b.N; i++ {
		f := &frames[i%len(frames)]
		out, _, err := enc.Encode(f.Y, f.U, f.V, int64((i+3)*200))
		if err != nil {
			b.Fatal(err)
		}
		bytes += len(out)
	}
	ct.stop(b)
	b.ReportMetric(float64(bytes)/float64(b.N), "bytes/frame")
}

func BenchmarkScreenEncode1080pCPU16(b *testing.B) { benchScreenEncode(b, 16) }
func BenchmarkScreenEncode1080pCPU8(b *testing.B)  { benchScreenEncode(b, 8) }

// BenchmarkScreenEncode1080pStill: the same picture again and again.
func BenchmarkScreenEncode1080pStill(b *testing.B) { benchScreenEncodeN(b, 0, 1) }
