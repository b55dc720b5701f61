package media

import (
	"image"
	"sync"
)

// FrameSlot holds the latest decoded video frame. One writer (the decoder)
// fills frames; one reader (the UI) takes the newest one. Frames the reader
// never looked at are overwritten, never queued, so memory stays flat at
// three frames (triple buffering: the writer's frame, the ready frame and
// the reader's frame never alias).
type FrameSlot struct {
	mu      sync.Mutex
	back    *image.RGBA // writer's
	ready   *image.RGBA // newest complete frame
	front   *image.RGBA // reader's
	fresh   bool
	seq     uint64
	updated chan struct{}
}

// NewFrameSlot returns an empty slot.
func NewFrameSlot() *FrameSlot {
	return &FrameSlot{updated: make(chan struct{}, 1)}
}

// writeBuffer returns a w x h buffer the writer may fill; it is published by
// publish. Only the writer goroutine calls it.
func (s *FrameSlot) writeBuffer(w, h int) *image.RGBA {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.back == nil || s.back.Rect.Dx() != w || s.back.Rect.Dy() != h {
		s.back = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	return s.back
}

// publish makes the buffer last returned by writeBuffer the newest frame.
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

// Acquire returns the newest frame and whether it is new since the
// previous Acquire. The returned image belongs to the caller and does not
// change until its next Acquire call. img is nil until the first frame.
// Only one goroutine may call Acquire.
func (s *FrameSlot) Acquire() (img *image.RGBA, fresh bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fresh {
		s.front, s.ready = s.ready, s.front
		s.fresh = false
		return s.front, true
	}
	return s.front, false
}

// Frames returns how many frames have been published so far.
func (s *FrameSlot) Frames() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// Updated returns a channel that receives a value (coalesced) whenever a
// new frame is published. A UI loop can wait on it, then Acquire.
func (s *FrameSlot) Updated() <-chan struct{} { return s.updated }
