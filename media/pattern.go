package media

import (
	"image/color"
	"math"
)

// PatternColours are the colours of the test pattern's four quadrants:
// top left, top right, bottom left, bottom right. Tests check decoded
// frames against them; the UI can tell a test pattern by them.
var PatternColours = [4]color.RGBA{
	{R: 220, G: 40, B: 40, A: 255},  // red
	{R: 40, G: 200, B: 60, A: 255},  // green
	{R: 40, G: 60, B: 220, A: 255},  // blue
	{R: 230, G: 220, B: 50, A: 255}, // yellow
}

// pattern draws the synthetic camera picture into I420 buffers: four
// quadrants of PatternColours with a fine moving texture (so that the
// encoder works as hard as on a camera) and a white block sliding along
// the boundary between the rows of quadrants.
type pattern struct {
	w, h    int
	y, u, v []byte
	base    [4][3]byte // YUV of each quadrant
	lines   [2][]byte  // luma of a top/bottom row at phase 0, 8 samples longer
	ubase   []byte     // chroma planes without the moving block
	vbase   []byte
}

func newPattern(w, h int) *pattern {
	p := &pattern{w: w, h: h, y: make([]byte, w*h), u: make([]byte, w*h/4), v: make([]byte, w*h/4)}
	for i, c := range PatternColours {
		p.base[i] = rgbToYUV(c.R, c.G, c.B)
	}
	for half := range p.lines {
		l := make([]byte, w+8)
		for c := range l {
			q := half*2 + min(c, w-1)*2/w
			l[c] = p.base[q][0] - 3 + byte(c&7)
		}
		p.lines[half] = l
	}
	p.ubase, p.vbase = make([]byte, w*h/4), make([]byte, w*h/4)
	for r := 0; r < h/2; r++ {
		qr := (r * 4 / h) * 2
		for c := 0; c < w/2; c++ {
			q := qr + c*4/w
			p.ubase[r*w/2+c] = p.base[q][1]
			p.vbase[r*w/2+c] = p.base[q][2]
		}
	}
	return p
}

func rgbToYUV(r, g, b uint8) [3]byte {
	R, G, B := float64(r), float64(g), float64(b)
	y := 16 + 0.257*R + 0.504*G + 0.098*B
	u := 128 - 0.148*R - 0.291*G + 0.439*B
	v := 128 + 0.439*R - 0.368*G - 0.071*B
	return [3]byte{uint8(math.Round(y)), uint8(math.Round(u)), uint8(math.Round(v))}
}

// draw renders frame n.
func (p *pattern) draw(n int) {
	w, h := p.w, p.h
	for r := 0; r < h; r++ {
		// Texture value (c+r+n)&7: the phase-0 line shifted by (r+n)&7,
		// correct except for the few pixels shifted across the left/right
		// boundary, which is invisible.
		l := p.lines[r*2/h]
		off := (r + n) & 7
		copy(p.y[r*w:r*w+w], l[off:off+w])
	}
	copy(p.u, p.ubase)
	copy(p.v, p.vbase)
	// White block, 1/10 of the height, sliding along the middle row.
	bs := max(h/10, 2) &^ 1
	x0 := ((n * 8) % max(w-bs, 1)) &^ 1
	y0 := (h/2 - bs/2) &^ 1
	for r := y0; r < y0+bs; r++ {
		for c := x0; c < x0+bs; c++ {
			p.y[r*w+c] = 235
		}
	}
	for r := y0 / 2; r < (y0+bs)/2; r++ {
		for c := x0 / 2; c < (x0+bs)/2; c++ {
			p.u[r*w/2+c], p.v[r*w/2+c] = 128, 128
		}
	}
}

// tone generates a sine wave, 48 kHz mono int16.
type tone struct {
	freq  float64
	amp   float64
	phase float64
}

func (t *tone) fill(pcm []int16) {
	step := 2 * math.Pi * t.freq / 48000
	for i := range pcm {
		pcm[i] = int16(t.amp * 32767 * math.Sin(t.phase))
		t.phase += step
		if t.phase > 2*math.Pi {
			t.phase -= 2 * math.Pi
		}
	}
}
