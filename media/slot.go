package media

import (
	"image"
	"sync"
	"sync/atomic"

	"github.com/mxcall/mxcall/media/vpx"
)

// FrameSlot holds the latest video frame as I420, the way the decoder and
// the camera give it. One writer (the decoder, or the camera's encoder
// loop) stores frames; one reader (the UI) takes the newest one and only
// then converts it to RGBA, at the size it is shown (FrameFit): frames
// nobody looks at, and frames of a hidden window, are never converted.
// Frames the reader never took are overwritten, never queued, so memory
// stays flat at three I420 frames (triple buffering: the writer's frame,
// the ready frame and the reader's frame never alias) plus the reader's
// scratch.
type FrameSlot struct {
	mu      sync.Mutex
	back    *vpx.I420 // writer's
	ready   *vpx.I420 // newest complete frame
	front   *vpx.I420 // reader's
	fresh   bool
	seq     uint64
	updated chan struct{}

	// Reader side: one reader at a time.
	rmu    sync.Mutex
	rgba   *image.RGBA // Acquire's picture
	small  vpx.I420    // front shrunk for FrameFit
	scaler vpx.Scaler
	conv   *vpx.Converter

	conversions atomic.Uint64
}

// NewFrameSlot returns an empty slot.
func NewFrameSlot() *FrameSlot {
	return &FrameSlot{updated: make(chan struct{}, 1), back: &vpx.I420{}, ready: &vpx.I420{}, front: &vpx.I420{},
		conv: vpx.NewConverter(1)}
}

// writeFrame returns the frame the writer may fill (resize and copy into
// it); publish makes it the newest. Only the writer goroutine calls it.
func (s *FrameSlot) writeFrame() *vpx.I420 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.back
}

// publish makes the frame last returned by writeFrame the newest frame.
func (s *FrameSlot) publish() {
	s.mu.Lock()
	s.back, s.ready = s.ready, s.back
	s.fresh = true
	s.seq++
	s.mu.Unlock()
	select {
	case s.updated <- struct{}{}:
	default:
	}
}

// take moves the newest frame to the reader's side when it is new and
// returns the reader's frame (nil before the first frame), its sequence
// number and whether it is new. The caller holds rmu.
func (s *FrameSlot) take() (f *vpx.I420, seq uint64, fresh bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fresh = s.fresh
	if fresh {
		s.front, s.ready = s.ready, s.front
		s.fresh = false
	}
	if s.front.Width == 0 {
		return nil, s.seq, false
	}
	return s.front, s.seq, fresh
}

// Acquire returns the newest frame, converted to RGBA at its own size,
// and whether it is new since the previous Acquire. The returned image
// belongs to the caller and does not change until its next Acquire call.
// img is nil until the first frame.
func (s *FrameSlot) Acquire() (img *image.RGBA, fresh bool) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	f, _, fresh := s.take()
	if f == nil {
		return nil, false
	}
	if fresh || s.rgba == nil {
		s.rgba = s.convert(s.rgba, f)
	}
	return s.rgba, fresh
}

// FrameFit converts the newest frame into dst when its sequence number is
// greater than after, shrunk (in YUV, before the conversion) to fit
// maxW×maxH with its aspect ratio kept; frames that already fit are
// converted at their own size. maxW or maxH ≤ 0 means no limit. It returns
// the buffer that holds the picture (dst, or a new one when dst is nil or
// of another size) and the frame's sequence number; ok is false, and dst
// is returned untouched, when no newer frame exists.
func (s *FrameSlot) FrameFit(dst *image.RGBA, after uint64, maxW, maxH int) (out *image.RGBA, seq uint64, ok bool) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.Frames() <= after {
		return dst, after, false
	}
	f, seq, _ := s.take()
	if f == nil {
		return dst, after, false
	}
	if w, h := vpx.FitSize(f.Width, f.Height, maxW, maxH); w != f.Width || h != f.Height {
		if s.scaler.Scale(&s.small, f, w, h) != nil {
			return dst, after, false
		}
		f = &s.small
	}
	return s.convert(dst, f), seq, true
}

// convert converts f into dst, reallocated when its size is wrong.
func (s *FrameSlot) convert(dst *image.RGBA, f *vpx.I420) *image.RGBA {
	if dst == nil || dst.Rect.Dx() != f.Width || dst.Rect.Dy() != f.Height || dst.Rect.Min != (image.Point{}) {
		dst = image.NewRGBA(image.Rect(0, 0, f.Width, f.Height))
	}
	if s.conv.ConvertFrame(f, dst) == nil {
		s.conversions.Add(1)
	}
	return dst
}

// Frames returns how many frames have been published so far.
func (s *FrameSlot) Frames() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// Conversions returns how many frames the reader has had converted to
// RGBA so far (by Acquire and FrameFit).
func (s *FrameSlot) Conversions() uint64 { return s.conversions.Load() }

// Updated returns a channel that receives a value (coalesced) whenever a
// new frame is published. A UI loop can wait on it, then Acquire.
func (s *FrameSlot) Updated() <-chan struct{} { return s.updated }
