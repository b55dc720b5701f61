package vpx

/*
#include "bridge.h"
*/
import "C"

import (
	"image"
	"unsafe"
)

// I420 is a picture held in Go memory: a full-size luma plane and two
// chroma planes of half the width and height (rounded up), each row
// Stride bytes apart. The zero value is an empty picture; Resize gives it
// planes.
type I420 struct {
	Width, Height     int
	Y, U, V           []byte
	YStride, UVStride int
}

// chromaSize is the size of a chroma plane of a w×h picture.
func chromaSize(w, h int) (int, int) { return (w + 1) / 2, (h + 1) / 2 }

// Resize makes f a w×h picture with packed planes (stride = width),
// reusing its memory when it is large enough. The content is undefined.
func (f *I420) Resize(w, h int) {
	cw, ch := chromaSize(w, h)
	f.Width, f.Height, f.YStride, f.UVStride = w, h, w, cw
	f.Y = grow(f.Y, w*h)
	f.U = grow(f.U, cw*ch)
	f.V = grow(f.V, cw*ch)
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// valid reports whether f's planes hold a whole picture.
func (f *I420) valid() bool {
	cw, ch := chromaSize(f.Width, f.Height)
	return f.Width > 0 && f.Height > 0 && f.YStride >= f.Width && f.UVStride >= cw &&
		len(f.Y) >= f.YStride*(f.Height-1)+f.Width &&
		len(f.U) >= f.UVStride*(ch-1)+cw && len(f.V) >= f.UVStride*(ch-1)+cw
}

// CopyPicture copies a decoded picture (libvpx memory, valid until the
// next Decode) into f, resizing f to the picture's size.
func (f *I420) CopyPicture(p Picture) error {
	if p.Y == nil || p.Width <= 0 || p.Height <= 0 {
		return ErrBadFrame
	}
	f.Resize(p.Width, p.Height)
	copyPlane(f.Y, f.YStride, p.Y, p.YStride, p.Width, p.Height)
	cw, ch := chromaSize(p.Width, p.Height)
	copyPlane(f.U, f.UVStride, p.U, p.UVStride, cw, ch)
	copyPlane(f.V, f.UVStride, p.V, p.UVStride, cw, ch)
	return nil
}

func copyPlane(dst []byte, dstride int, src unsafe.Pointer, sstride, w, h int) {
	s := unsafe.Slice((*byte)(src), sstride*(h-1)+w)
	for y := 0; y < h; y++ {
		copy(dst[y*dstride:y*dstride+w], s[y*sstride:y*sstride+w])
	}
}

// CopyPacked copies a packed I420 picture (strides w and (w+1)/2, as
// capture and the test pattern give it) into f, resizing f.
func (f *I420) CopyPacked(y, u, v []byte, w, h int) error {
	cw, ch := chromaSize(w, h)
	if w <= 0 || h <= 0 || len(y) < w*h || len(u) < cw*ch || len(v) < cw*ch {
		return ErrBadFrame
	}
	f.Resize(w, h)
	copy(f.Y, y)
	copy(f.U, u)
	copy(f.V, v)
	return nil
}

// FromRGB32 converts a picture of 32 bits per pixel into f (BT.601
// limited range, as the decoder's conversion back to RGBA expects),
// resizing f to w×h, which must be even. pix holds h rows of stride bytes
// (stride ≥ 4w); bgr says the bytes of a pixel are B, G, R, unused (X11's
// usual 24-bit TrueColor on a little-endian server) rather than R, G, B,
// unused.
func (f *I420) FromRGB32(pix []byte, stride, w, h int, bgr bool) error {
	if w <= 0 || h <= 0 || w%2 != 0 || h%2 != 0 || stride < 4*w || len(pix) < stride*(h-1)+4*w {
		return ErrBadFrame
	}
	f.Resize(w, h)
	C.mx_rgb32_to_i420((*C.uint8_t)(unsafe.Pointer(&pix[0])), C.int(stride), C.int(w), C.int(h), C.int(boolInt(bgr)),
		(*C.uint8_t)(unsafe.Pointer(&f.Y[0])), (*C.uint8_t)(unsafe.Pointer(&f.U[0])), (*C.uint8_t)(unsafe.Pointer(&f.V[0])))
	return nil
}

// Scaler shrinks I420 pictures by area averaging: every output pixel is
// the mean of the source pixels it covers, a box filter that does not
// alias at any factor. It keeps its scratch memory between calls and is
// not safe for concurrent use.
type Scaler struct {
	acc []uint32
}

// Scale shrinks src into dst, resized to w×h (at most src's size in each
// direction; larger sizes are clamped to it).
func (s *Scaler) Scale(dst, src *I420, w, h int) error {
	if !src.valid() || w <= 0 || h <= 0 {
		return ErrBadFrame
	}
	w, h = min(w, src.Width), min(h, src.Height)
	dst.Resize(w, h)
	if n := src.Width + w + 1; cap(s.acc) < n {
		s.acc = make([]uint32, n)
	}
	acc := (*C.uint32_t)(unsafe.Pointer(&s.acc[0]))
	scalePlane(src.Y, src.YStride, src.Width, src.Height, dst.Y, dst.YStride, w, h, acc)
	scw, sch := chromaSize(src.Width, src.Height)
	dcw, dch := chromaSize(w, h)
	scalePlane(src.U, src.UVStride, scw, sch, dst.U, dst.UVStride, dcw, dch, acc)
	scalePlane(src.V, src.UVStride, scw, sch, dst.V, dst.UVStride, dcw, dch, acc)
	return nil
}

func scalePlane(src []byte, ss, sw, sh int, dst []byte, ds, dw, dh int, acc *C.uint32_t) {
	C.mx_scale_plane((*C.uint8_t)(unsafe.Pointer(&src[0])), C.int(ss), C.int(sw), C.int(sh),
		(*C.uint8_t)(unsafe.Pointer(&dst[0])), C.int(ds), C.int(dw), C.int(dh), acc)
}

// ConvertFrame converts f into dst, which must be exactly f's size (at
// the origin).
func (c *Converter) ConvertFrame(f *I420, dst *image.RGBA) error {
	if !f.valid() || dst.Rect.Dx() != f.Width || dst.Rect.Dy() != f.Height || dst.Rect.Min != (image.Point{}) {
		return ErrBadFrame
	}
	c.run(unsafe.Pointer(&f.Y[0]), f.YStride, unsafe.Pointer(&f.U[0]), unsafe.Pointer(&f.V[0]), f.UVStride, dst)
	return nil
}

// FitSize is the largest size with w:h's aspect ratio inside maxW×maxH,
// and never larger than w×h itself: pictures are shrunk to fit, never
// enlarged (the GPU enlarges for free). maxW or maxH ≤ 0 means no limit.
func FitSize(w, h, maxW, maxH int) (int, int) {
	if w <= 0 || h <= 0 || maxW <= 0 || maxH <= 0 || (w <= maxW && h <= maxH) {
		return w, h
	}
	fw, fh := maxW, (maxW*h+w/2)/w
	if fh > maxH {
		fw, fh = (maxH*w+h/2)/h, maxH
	}
	return max(fw, 1), max(fh, 1)
}
