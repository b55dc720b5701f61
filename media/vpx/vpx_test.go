package vpx

import (
	"errors"
	"image"
	"math/rand"
	"testing"
)

// frame makes an I420 picture: four colour quadrants whose texture moves
// with n, so that consecutive frames differ as camera frames do.
func frame(w, h, n int, rnd *rand.Rand) (y, u, v []byte) {
	y = make([]byte, w*h)
	u = make([]byte, w*h/4)
	v = make([]byte, w*h/4)
	quad := [4][3]byte{{81, 90, 240}, {145, 54, 34}, {41, 240, 110}, {210, 16, 146}} // red, green, blue, yellow (Y, U, V)
	for r := 0; r < h; r++ {
		for c := 0; c < w; c++ {
			q := (r*2/h)*2 + c*2/w
			t := byte((c+r+n*4)&15) + byte(rnd.Intn(4))
			y[r*w+c] = quad[q][0] - 8 + t
			if r%2 == 0 && c%2 == 0 {
				u[(r/2)*(w/2)+c/2] = quad[q][1]
				v[(r/2)*(w/2)+c/2] = quad[q][2]
			}
		}
	}
	return y, u, v
}

func TestRoundTripColours(t *testing.T) {
	const w, h = 320, 240
	enc, err := NewEncoder(EncoderConfig{Width: w, Height: h, BitrateKbps: 800})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	dec, err := NewDecoder(1)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	conv := NewConverter(2)
	defer conv.Close()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	rnd := rand.New(rand.NewSource(1))
	keys := 0
	for i := 0; i < 30; i++ {
		y, u, v := frame(w, h, i, rnd)
		if i == 20 {
			enc.RequestKeyframe()
		}
		out, key, err := enc.Encode(y, u, v, int64(i*33))
		if err != nil {
			t.Fatal(err)
		}
		if key != IsKeyframe(out) {
			t.Fatalf("frame %d: key=%v but IsKeyframe=%v", i, key, IsKeyframe(out))
		}
		if key {
			keys++
		}
		pic, ok, err := dec.Decode(out)
		if err != nil || !ok {
			t.Fatalf("decode %d: ok=%v err=%v", i, ok, err)
		}
		if err := conv.Convert(pic, dst); err != nil {
			t.Fatal(err)
		}
	}
	if keys != 2 {
		t.Errorf("keyframes = %d, want 2 (first + requested)", keys)
	}
	want := [4][3]int{{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 0}}
	for q, c := range want {
		x, yy := w/4+(q%2)*w/2, h/4+(q/2)*h/2
		p := dst.RGBAAt(x, yy)
		got := [3]int{int(p.R), int(p.G), int(p.B)}
		for i := range 3 {
			if d := got[i] - c[i]; d < -40 || d > 40 {
				t.Errorf("quadrant %d: got %v want ≈ %v", q, got, c)
				break
			}
		}
	}
}

func TestSetBitrate(t *testing.T) {
	enc, err := NewEncoder(EncoderConfig{Width: 64, Height: 48})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	y, u, v := frame(64, 48, 0, rand.New(rand.NewSource(1)))
	enc.SetBitrate(300)
	if _, _, err := enc.Encode(y, u, v, 0); err != nil {
		t.Fatal(err)
	}
	if enc.Bitrate() != 300 {
		t.Fatalf("bitrate %d", enc.Bitrate())
	}
	enc.Close()
	enc.Close()
	if _, _, err := enc.Encode(y, u, v, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func benchFrames(w, h int) [][3][]byte {
	rnd := rand.New(rand.NewSource(1))
	fr := make([][3][]byte, 8)
	for i := range fr {
		y, u, v := frame(w, h, i, rnd)
		fr[i] = [3][]byte{y, u, v}
	}
	return fr
}

func benchEncode(b *testing.B, w, h, kbps int) {
	b.Helper()
	enc, err := NewEncoder(EncoderConfig{Width: w, Height: h, BitrateKbps: kbps})
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	fr := benchFrames(w, h)
	for i := range 10 { // warm up: first keyframe, buffers grown
		f := fr[i%len(fr)]
		enc.Encode(f[0], f[1], f[2], int64(i*33))
	}
	b.ReportAllocs()
	ct := startCPU(b)
	for i := 0; i < b.N; i++ {
		f := fr[i%len(fr)]
		if _, _, err := enc.Encode(f[0], f[1], f[2], int64((i+10)*33)); err != nil {
			b.Fatal(err)
		}
	}
	ct.stop(b)
}

func BenchmarkEncode480p(b *testing.B) { benchEncode(b, 640, 480, 1000) }
func BenchmarkEncode720p(b *testing.B) { benchEncode(b, 1280, 720, 2000) }

func encodedFrames(b *testing.B, w, h, n int) [][]byte {
	b.Helper()
	enc, err := NewEncoder(EncoderConfig{Width: w, Height: h, BitrateKbps: w * h / 300, KeyframeInterval: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	fr := benchFrames(w, h)
	out := make([][]byte, n)
	for i := range out {
		f := fr[i%len(fr)]
		p, _, err := enc.Encode(f[0], f[1], f[2], int64(i*33))
		if err != nil {
			b.Fatal(err)
		}
		out[i] = append([]byte(nil), p...)
	}
	return out
}

func benchDecode(b *testing.B, w, h int, convert bool, threads int) {
	b.Helper()
	frames := encodedFrames(b, w, h, 64)
	dec, err := NewDecoder(threads)
	if err != nil {
		b.Fatal(err)
	}
	defer dec.Close()
	conv := NewConverter(2)
	defer conv.Close()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	b.ReportAllocs()
	ct := startCPU(b)
	defer ct.stop(b)
	for i := 0; i < b.N; i++ {
		j := i % len(frames)
		if j == 0 && i > 0 {
			dec.Close()
			dec, _ = NewDecoder(threads) // start again at the keyframe
		}
		pic, ok, err := dec.Decode(frames[j])
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
		if convert {
			conv.Convert(pic, dst)
		}
	}
}

func BenchmarkDecode480p(b *testing.B)                { benchDecode(b, 640, 480, false, 1) }
func BenchmarkDecode720p(b *testing.B)                { benchDecode(b, 1280, 720, false, 1) }
func BenchmarkDecodeConvert480p(b *testing.B)         { benchDecode(b, 640, 480, true, 1) }
func BenchmarkDecodeConvert720p(b *testing.B)         { benchDecode(b, 1280, 720, true, 1) }
func BenchmarkDecodeConvert720pThreads2(b *testing.B) { benchDecode(b, 1280, 720, true, 2) }
func BenchmarkConvert480p(b *testing.B)               { benchConvert(b, 640, 480, 2) }
func BenchmarkConvert720p(b *testing.B)               { benchConvert(b, 1280, 720, 2) }
func BenchmarkConvert720pOneWorker(b *testing.B)      { benchConvert(b, 1280, 720, 1) }

func benchConvert(b *testing.B, w, h, workers int) {
	b.Helper()
	f := benchFrames(w, h)[0]
	conv := NewConverter(workers)
	defer conv.Close()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	b.ReportAllocs()
	ct := startCPU(b)
	for i := 0; i < b.N; i++ {
		conv.ConvertI420(f[0], f[1], f[2], dst)
	}
	ct.stop(b)
}

// TestConvertSIMDMatchesScalar checks the vector path against the formula
// (the scalar tail) on every Y/U/V combination class, incl. odd widths.
func TestConvertMatchesFormula(t *testing.T) {
	for _, w := range []int{16, 18, 34, 640} {
		h := 4
		y := make([]byte, w*h)
		u := make([]byte, w*h/4)
		v := make([]byte, w*h/4)
		rnd := rand.New(rand.NewSource(int64(w)))
		for i := range y {
			y[i] = byte(rnd.Intn(256))
		}
		for i := range u {
			u[i], v[i] = byte(rnd.Intn(256)), byte(rnd.Intn(256))
		}
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		if err := I420ToRGBA(y, u, v, dst, 1); err != nil {
			t.Fatal(err)
		}
		cl := func(x int) int { return max(0, min(255, x)) }
		for r := 0; r < h; r++ {
			for c := 0; c < w; c++ {
				Y, U, V := int(y[r*w+c]), int(u[r/2*w/2+c/2])-128, int(v[r/2*w/2+c/2])-128
				k := 74*(Y-16) + 32
				want := [4]int{cl((k + 102*V) >> 6), cl((k - 25*U - 52*V) >> 6), cl((k + 129*U) >> 6), 255}
				p := dst.RGBAAt(c, r)
				got := [4]int{int(p.R), int(p.G), int(p.B), int(p.A)}
				if got != want {
					t.Fatalf("w=%d (%d,%d) YUV=%d,%d,%d: got %v want %v", w, c, r, Y, U+128, V+128, got, want)
				}
			}
		}
	}
}
