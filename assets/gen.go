//go:build ignore

// gen draws the app icon and synthesises the call sounds. Run it with
// `go generate ./assets` (or `go run gen.go` inside assets/); the outputs
// are committed, so a normal build never runs it.
package main

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
)

func main() {
	if err := writeIcon("icon.png", 512); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("ringtone.wav", wav(ringtone()), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("ringback.wav", wav(ringback()), 0o644); err != nil {
		log.Fatal(err)
	}
}

// ---- icon ----

// inside reports whether (x, y) in unit coordinates [0,1) is inside shape.
type shape func(x, y float64) bool

func roundRect(x0, y0, x1, y1, r float64) shape {
	return func(x, y float64) bool {
		if x < x0 || x > x1 || y < y0 || y > y1 {
			return false
		}
		cx := math.Max(x0+r, math.Min(x, x1-r))
		cy := math.Max(y0+r, math.Min(y, y1-r))
		return (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r
	}
}

func triangle(ax, ay, bx, by, cx, cy float64) shape {
	sign := func(px, py, qx, qy, rx, ry float64) float64 { return (px-rx)*(qy-ry) - (qx-rx)*(py-ry) }
	return func(x, y float64) bool {
		d1 := sign(x, y, ax, ay, bx, by)
		d2 := sign(x, y, bx, by, cx, cy)
		d3 := sign(x, y, cx, cy, ax, ay)
		neg := d1 < 0 || d2 < 0 || d3 < 0
		pos := d1 > 0 || d2 > 0 || d3 > 0
		return !(neg && pos)
	}
}

func circle(cx, cy, r float64) shape {
	return func(x, y float64) bool { return (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r }
}

func writeIcon(path string, size int) error {
	bg := roundRect(0.04, 0.04, 0.96, 0.96, 0.22)
	body := roundRect(0.18, 0.32, 0.62, 0.68, 0.07)
	lens := triangle(0.60, 0.50, 0.82, 0.33, 0.82, 0.67)
	dot := circle(0.40, 0.50, 0.085)
	top := color.NRGBA{0x12, 0xc2, 0x8f, 0xff}
	bottom := color.NRGBA{0x1f, 0x6f, 0xd6, 0xff}
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	const ss = 4
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var r, g, b, a float64
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					x := (float64(px) + (float64(sx)+0.5)/ss) / float64(size)
					y := (float64(py) + (float64(sy)+0.5)/ss) / float64(size)
					if !bg(x, y) {
						continue
					}
					var c color.NRGBA
					switch {
					case dot(x, y):
						c = lerp(top, bottom, y)
					case body(x, y) || lens(x, y):
						c = color.NRGBA{0xff, 0xff, 0xff, 0xff}
					default:
						c = lerp(top, bottom, (x+y)/2)
					}
					r += float64(c.R)
					g += float64(c.G)
					b += float64(c.B)
					a += 255
				}
			}
			n := float64(ss * ss)
			if a == 0 {
				continue
			}
			cov := a / 255
			img.SetNRGBA(px, py, color.NRGBA{uint8(r / cov), uint8(g / cov), uint8(b / cov), uint8(a / n)})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return png.Encode(f, img)
}

func lerp(a, b color.NRGBA, t float64) color.NRGBA {
	t = math.Max(0, math.Min(1, t))
	m := func(x, y uint8) uint8 { return uint8(float64(x)*(1-t) + float64(y)*t) }
	return color.NRGBA{m(a.R, b.R), m(a.G, b.G), m(a.B, b.B), 0xff}
}

// ---- sounds: 16 kHz mono signed 16-bit PCM ----

const rate = 16000

// tone appends dur seconds of the sum of freqs with a short fade in/out.
func tone(buf []float64, dur float64, amp float64, freqs ...float64) []float64 {
	n := int(dur * rate)
	fade := int(0.01 * rate)
	for i := 0; i < n; i++ {
		t := float64(i) / rate
		v := 0.0
		for _, f := range freqs {
			v += math.Sin(2 * math.Pi * f * t)
		}
		v *= amp / float64(len(freqs))
		if i < fade {
			v *= float64(i) / float64(fade)
		}
		if n-i < fade {
			v *= float64(n-i) / float64(fade)
		}
		buf = append(buf, v)
	}
	return buf
}

func silence(buf []float64, dur float64) []float64 {
	return append(buf, make([]float64, int(dur*rate))...)
}

// ringtone is a rising three-note chime played twice, then a pause; it loops.
func ringtone() []float64 {
	var b []float64
	for i := 0; i < 2; i++ {
		b = tone(b, 0.16, 0.5, 659.25, 1318.5) // E5
		b = tone(b, 0.16, 0.5, 783.99, 1568.0) // G5
		b = tone(b, 0.28, 0.5, 1046.5, 2093.0) // C6
		b = silence(b, 0.12)
	}
	return silence(b, 1.2)
}

// ringback is the ITU/US style 440+480 Hz tone, 1 s on and 3 s off; it loops.
func ringback() []float64 {
	b := tone(nil, 1.0, 0.35, 440, 480)
	return silence(b, 3.0)
}

func wav(samples []float64) []byte {
	var pcm bytes.Buffer
	for _, s := range samples {
		v := int16(math.Max(-1, math.Min(1, s)) * 32767)
		binary.Write(&pcm, binary.LittleEndian, v)
	}
	var out bytes.Buffer
	w := func(v any) { binary.Write(&out, binary.LittleEndian, v) }
	out.WriteString("RIFF")
	w(uint32(36 + pcm.Len()))
	out.WriteString("WAVEfmt ")
	w(uint32(16))
	w(uint16(1))        // PCM
	w(uint16(1))        // mono
	w(uint32(rate))     // sample rate
	w(uint32(rate * 2)) // byte rate
	w(uint16(2))        // block align
	w(uint16(16))       // bits per sample
	out.WriteString("data")
	w(uint32(pcm.Len()))
	out.Write(pcm.Bytes())
	return out.Bytes()
}
