package vpx

/*
#include "bridge.h"
*/
import "C"

import (
	"fmt"
	"image"
	"sync"
	"unsafe"
)

// Decoder is a VP8 decoder. It is not safe for concurrent use.
type Decoder struct {
	dec *C.mx_dec
}

// NewDecoder creates a VP8 decoder using the given number of threads (0: 1).
func NewDecoder(threads int) (*Decoder, error) {
	if threads <= 0 {
		threads = 1
	}
	var d *C.mx_dec
	if rc := C.mx_dec_new(&d, C.int(threads)); rc != 0 {
		return nil, fmt.Errorf("%w: vpx_codec_dec_init: %d", ErrInit, int(rc))
	}
	return &Decoder{dec: d}, nil
}

// Picture is a decoded I420 picture. Its planes point into libvpx memory
// and are valid only until the next Decode or Close.
type Picture struct {
	Width, Height     int
	Y, U, V           unsafe.Pointer
	YStride, UVStride int
}

// IsKeyframe reports whether a VP8 frame (one whole frame, as the RTP
// depacketizer gives it) is a keyframe.
func IsKeyframe(frame []byte) bool {
	return len(frame) >= 3 && frame[0]&1 == 0
}

// Decode decodes one whole VP8 frame. ok is false when no picture came out.
func (d *Decoder) Decode(frame []byte) (pic Picture, ok bool, err error) {
	if d.dec == nil {
		return Picture{}, false, ErrClosed
	}
	if len(frame) == 0 {
		return Picture{}, false, ErrBadFrame
	}
	rc := C.mx_dec_decode(d.dec, (*C.uint8_t)(unsafe.Pointer(&frame[0])), C.size_t(len(frame)))
	if rc < 0 {
		return Picture{}, false, fmt.Errorf("%w: decode %d", ErrCodec, int(rc))
	}
	if rc == 0 {
		return Picture{}, false, nil
	}
	return Picture{
		Width: int(d.dec.w), Height: int(d.dec.h),
		Y: unsafe.Pointer(d.dec.y), U: unsafe.Pointer(d.dec.u), V: unsafe.Pointer(d.dec.v),
		YStride: int(d.dec.ystride), UVStride: int(d.dec.uvstride),
	}, true, nil
}

// Close frees the decoder. It is idempotent.
func (d *Decoder) Close() error {
	if d.dec != nil {
		C.mx_dec_free(d.dec)
		d.dec = nil
	}
	return nil
}

// ToRGBA converts the picture into dst, which must be exactly
// Width x Height (dst.Rect at the origin). It uses up to workers
// goroutines (the calling one included).
func (p Picture) ToRGBA(dst *image.RGBA, workers int) error {
	if p.Y == nil || dst.Rect.Dx() != p.Width || dst.Rect.Dy() != p.Height || dst.Rect.Min != (image.Point{}) {
		return ErrBadFrame
	}
	convert(p.Y, p.YStride, p.U, p.V, p.UVStride, dst, workers)
	return nil
}

// I420ToRGBA converts an I420 frame held in Go memory (y stride = width,
// u/v stride = width/2) into dst, which must have the same size.
func I420ToRGBA(y, u, v []byte, dst *image.RGBA, workers int) error {
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	if w%2 != 0 || len(y) < w*h || len(u) < w*h/4 || len(v) < w*h/4 || dst.Rect.Min != (image.Point{}) {
		return ErrBadFrame
	}
	convert(unsafe.Pointer(&y[0]), w, unsafe.Pointer(&u[0]), unsafe.Pointer(&v[0]), w/2, dst, workers)
	return nil
}

// Converter converts pictures to RGBA on a fixed set of worker
// goroutines, so that a conversion allocates nothing. Convert must not be
// called concurrently; Close stops the workers.
type Converter struct {
	workers int
	jobs    chan convJob
	wg      sync.WaitGroup
	done    sync.WaitGroup
	once    sync.Once
}

type convJob struct {
	y, u, v   unsafe.Pointer
	ys, uvs   int
	dst       unsafe.Pointer
	dstride   int
	w, r0, r1 int
}

// NewConverter starts a converter using workers goroutines in total (the
// caller's included); workers ≤ 1 converts on the calling goroutine only.
func NewConverter(workers int) *Converter {
	c := &Converter{workers: max(workers, 1), jobs: make(chan convJob)}
	for i := 1; i < c.workers; i++ {
		c.done.Add(1)
		go func() {
			defer c.done.Done()
			for j := range c.jobs {
				j.run()
				c.wg.Done()
			}
		}()
	}
	return c
}

func (j convJob) run() {
	C.mx_i420_to_rgba((*C.uint8_t)(j.y), C.int(j.ys), (*C.uint8_t)(j.u), (*C.uint8_t)(j.v), C.int(j.uvs),
		(*C.uint8_t)(j.dst), C.int(j.dstride), C.int(j.w), C.int(j.r0), C.int(j.r1))
}

// Convert converts p into dst (same rules as Picture.ToRGBA).
func (c *Converter) Convert(p Picture, dst *image.RGBA) error {
	if p.Y == nil || dst.Rect.Dx() != p.Width || dst.Rect.Dy() != p.Height || dst.Rect.Min != (image.Point{}) {
		return ErrBadFrame
	}
	c.run(p.Y, p.YStride, p.U, p.V, p.UVStride, dst)
	return nil
}

// ConvertI420 converts a packed I420 frame in Go memory (see I420ToRGBA).
func (c *Converter) ConvertI420(y, u, v []byte, dst *image.RGBA) error {
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	if w%2 != 0 || len(y) < w*h || len(u) < w*h/4 || len(v) < w*h/4 || dst.Rect.Min != (image.Point{}) {
		return ErrBadFrame
	}
	c.run(unsafe.Pointer(&y[0]), w, unsafe.Pointer(&u[0]), unsafe.Pointer(&v[0]), w/2, dst)
	return nil
}

func (c *Converter) run(y unsafe.Pointer, ys int, u, v unsafe.Pointer, uvs int, dst *image.RGBA) {
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	rows := (h/c.workers + 1) &^ 1
	base := convJob{y: y, u: u, v: v, ys: ys, uvs: uvs, dst: unsafe.Pointer(&dst.Pix[0]), dstride: dst.Stride, w: w}
	if c.workers == 1 || rows < 16 {
		base.r1 = h
		base.run()
		return
	}
	for r0 := rows; r0 < h; r0 += rows {
		j := base
		j.r0, j.r1 = r0, min(r0+rows, h)
		c.wg.Add(1)
		c.jobs <- j
	}
	base.r1 = min(rows, h)
	base.run()
	c.wg.Wait()
}

// Close stops the worker goroutines. It is idempotent.
func (c *Converter) Close() error {
	c.once.Do(func() {
		close(c.jobs)
		c.done.Wait()
	})
	return nil
}

func convert(y unsafe.Pointer, ys int, u, v unsafe.Pointer, uvs int, dst *image.RGBA, workers int) {
	c := &Converter{workers: 1}
	if workers <= 1 {
		c.run(y, ys, u, v, uvs, dst)
		return
	}
	c = NewConverter(workers)
	defer func() { _ = c.Close() }()
	c.run(y, ys, u, v, uvs, dst)
}
