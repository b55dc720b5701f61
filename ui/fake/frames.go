package fake

import (
	"context"
	"image"
	"image/color"
	"math"
	"sync"
	"time"
)

// FrameSlot is a latest-frame slot (ui.FrameSource): Put replaces the
// frame, FrameInto copies the newest one out.
type FrameSlot struct {
	mu    sync.Mutex
	frame *image.RGBA
	seq   uint64
}

// Put copies img into the slot as the newest frame.
func (s *FrameSlot) Put(img *image.RGBA) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frame = copyInto(s.frame, img)
	s.seq++
}

// Seq returns the sequence number of the newest frame (0: none yet).
func (s *FrameSlot) Seq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// FrameInto implements ui.FrameSource.
func (s *FrameSlot) FrameInto(dst *image.RGBA, after uint64) (*image.RGBA, uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frame == nil || s.seq <= after {
		return dst, after, false
	}
	return copyInto(dst, s.frame), s.seq, true
}

// copyInto copies src into dst, reallocating dst when its size differs.
func copyInto(dst, src *image.RGBA) *image.RGBA {
	b := src.Bounds()
	if dst == nil || dst.Bounds().Size() != b.Size() {
		dst = image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	}
	if src.Stride == dst.Stride && b.Min == (image.Point{}) {
		copy(dst.Pix, src.Pix[:len(dst.Pix)])
		return dst
	}
	for y := 0; y < b.Dy(); y++ {
		copy(dst.Pix[y*dst.Stride:y*dst.Stride+b.Dx()*4], src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):])
	}
	return dst
}

// Scene draws a synthetic camera picture: a gradient backdrop and a head
// and shoulders silhouette that sways with t, plus a moving marker so a
// screenshot shows the picture is live. Deterministic for a given t.
func Scene(dst *image.RGBA, t time.Duration, top, bottom, person color.RGBA) {
	b := dst.Bounds()
	w, h := float64(b.Dx()), float64(b.Dy())
	sec := t.Seconds()
	cx := w/2 + math.Sin(sec*0.8)*w*0.04
	headY := h * 0.42
	headR := h * 0.17
	bodyY := h * 1.02
	bodyRX, bodyRY := w*0.26, h*0.38
	markX := (0.1 + 0.8*math.Mod(sec/4, 1)) * w
	for y := 0; y < b.Dy(); y++ {
		fy := float64(y)
		bg := mix(top, bottom, fy/h)
		row := dst.Pix[y*dst.Stride:]
		for x := 0; x < b.Dx(); x++ {
			fx := float64(x)
			c := bg
			dx, dy := fx-cx, fy-headY
			ex, ey := (fx-cx)/bodyRX, (fy-bodyY)/bodyRY
			switch {
			case dx*dx+dy*dy <= headR*headR, ex*ex+ey*ey <= 1:
				c = person
			case fy > h*0.94 && fy < h*0.96 && math.Abs(fx-markX) < w*0.03:
				c = color.RGBA{0xff, 0xff, 0xff, 0xff}
			}
			i := x * 4
			row[i], row[i+1], row[i+2], row[i+3] = c.R, c.G, c.B, 0xff
		}
	}
}

func mix(a, b color.RGBA, t float64) color.RGBA {
	m := func(x, y uint8) uint8 { return uint8(float64(x)*(1-t) + float64(y)*t) }
	return color.RGBA{m(a.R, b.R), m(a.G, b.G), m(a.B, b.B), 0xff}
}

// Colours of the two synthetic cameras.
var (
	RemoteColors = [3]color.RGBA{{0x3a, 0x6e, 0xa5, 0xff}, {0xd8, 0xc3, 0xa5, 0xff}, {0x2b, 0x2d, 0x42, 0xff}}
	LocalColors  = [3]color.RGBA{{0x6a, 0x99, 0x4e, 0xff}, {0xf2, 0xe8, 0xcf, 0xff}, {0x38, 0x66, 0x41, 0xff}}
)

// Produce fills slot with w×h Scene frames at fps until ctx ends, like a
// decoder would.
func Produce(ctx context.Context, slot *FrameSlot, w, h, fps int, colors [3]color.RGBA) {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	start := time.Now()
	t := time.NewTicker(time.Second / time.Duration(fps))
	defer t.Stop()
	for {
		Scene(img, time.Since(start), colors[0], colors[1], colors[2])
		slot.Put(img)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Palettes are further camera colours (backdrop top, bottom, person), one
// per participant of a group call; RemoteColors and LocalColors come first.
var Palettes = [][3]color.RGBA{
	LocalColors,
	RemoteColors,
	{{0x8e, 0x44, 0xad, 0xff}, {0xf5, 0xcb, 0xa7, 0xff}, {0x4a, 0x23, 0x5a, 0xff}},
	{{0xc0, 0x39, 0x2b, 0xff}, {0xf9, 0xe7, 0x9f, 0xff}, {0x64, 0x1e, 0x16, 0xff}},
	{{0x16, 0xa0, 0x85, 0xff}, {0xd1, 0xf2, 0xeb, 0xff}, {0x0e, 0x62, 0x51, 0xff}},
	{{0xd3, 0x54, 0x00, 0xff}, {0xfd, 0xeb, 0xd0, 0xff}, {0x6e, 0x2c, 0x00, 0xff}},
	{{0x2c, 0x3e, 0x50, 0xff}, {0xae, 0xb6, 0xbf, 0xff}, {0x17, 0x20, 0x2a, 0xff}},
	{{0x7d, 0x3c, 0x98, 0xff}, {0xe8, 0xda, 0xef, 0xff}, {0x4a, 0x23, 0x5a, 0xff}},
	{{0x1f, 0x61, 0x8d, 0xff}, {0xd6, 0xea, 0xf8, 0xff}, {0x15, 0x43, 0x60, 0xff}},
}
