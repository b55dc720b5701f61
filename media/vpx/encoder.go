package vpx

/*
#cgo pkg-config: vpx
#cgo CFLAGS: -O3
#include "bridge.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// EncoderConfig configures a VP8 Encoder. Zero fields take the defaults.
type EncoderConfig struct {
	Width, Height int
	// FPS is the nominal frame rate (default 30).
	FPS int
	// BitrateKbps is the initial target bitrate (default 1000).
	BitrateKbps int
	// Threads is libvpx's g_threads. Default: 2 on machines with 4 or more
	// CPUs, else 1. libvpx's VP8 row threads synchronise by spinning, so on
	// a busy 2-core machine (our target: encoder, decoder, Fyne's software
	// GL and pion share two cores) threads=2 measured 4-7x slower in wall
	// time and 3-7x more CPU than threads=1.
	Threads int
	// CPUUsed is VP8E_SET_CPUUSED, 8..16 trading quality for speed. Default:
	// 8 on machines with 4 or more CPUs, else 16 (on our 2-core target
	// cpu-used 16 encodes a noisy 480p frame in ≈ 2.4 ms and 720p in ≈ 5.8 ms
	// against ≈ 6 ms and ≈ 14 ms at 8). With ScreenContent the default is
	// 8 on every machine.
	CPUUsed int
	// KeyframeInterval is the longest distance between keyframes in frames
	// (default 10 s worth). Keyframes are also forced on request.
	KeyframeInterval int
	// ScreenContent tunes the encoder for screen sharing: libvpx's
	// VP8E_SET_SCREEN_CONTENT_MODE, a finer lowest quantizer (2 instead of
	// 4) and a coarser highest one (52 instead of 56, so text stays
	// readable when the bitrate is short) and keyframes up to 10x a frame's
	// share of the bitrate instead of 3x (a sharp first picture of a
	// mostly static screen matters more than a smooth rate).
	ScreenContent bool
}

// Encoder is a realtime VP8 encoder. It is not safe for concurrent use,
// except SetBitrate and RequestKeyframe which may be called from any
// goroutine.
type Encoder struct {
	cfg  EncoderConfig
	enc  *C.mx_enc
	buf  []byte
	mu   sync.Mutex // guards the pending fields below
	key  bool
	kbps int
	cur  int
}

// NewEncoder creates a VP8 encoder for I420 frames of cfg's size.
func NewEncoder(cfg EncoderConfig) (*Encoder, error) {
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width%2 != 0 || cfg.Height%2 != 0 {
		return nil, fmt.Errorf("%w: size %dx%d", ErrInit, cfg.Width, cfg.Height)
	}
	if cfg.FPS <= 0 {
		cfg.FPS = 30
	}
	if cfg.BitrateKbps <= 0 {
		cfg.BitrateKbps = 1000
	}
	if cfg.Threads <= 0 {
		cfg.Threads = 1
		if runtime.NumCPU() >= 4 {
			cfg.Threads = 2
		}
	}
	if cfg.CPUUsed == 0 {
		cfg.CPUUsed = 16
		if runtime.NumCPU() >= 4 || cfg.ScreenContent {
			// Screens: few frames a second leave time for the better
			// search; at 16 a scrolling 1080p screen overshot a 2.5 Mbit/s
			// target 2x (141 kB a frame at 5 fps, against 43 kB at 8),
			// for 21 against 30 ms of CPU a frame (BenchmarkScreenEncode*).
			cfg.CPUUsed = 8
		}
	}
	if cfg.KeyframeInterval <= 0 {
		cfg.KeyframeInterval = 10 * cfg.FPS
	}
	var e *C.mx_enc
	rc := C.mx_enc_new(&e, C.int(cfg.Width), C.int(cfg.Height), C.int(cfg.FPS), C.int(cfg.BitrateKbps),
		C.int(cfg.Threads), C.int(cfg.CPUUsed), C.int(cfg.KeyframeInterval), C.int(boolInt(cfg.ScreenContent)))
	if rc != 0 {
		return nil, fmt.Errorf("%w: vpx_codec_enc_init: %d", ErrInit, int(rc))
	}
	return &Encoder{cfg: cfg, enc: e, buf: make([]byte, 0, cfg.Width*cfg.Height/2), kbps: cfg.BitrateKbps, cur: cfg.BitrateKbps}, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Config returns the configuration the encoder was created with (defaults filled in).
func (e *Encoder) Config() EncoderConfig { return e.cfg }

// RequestKeyframe makes the next Encode produce a keyframe.
func (e *Encoder) RequestKeyframe() {
	e.mu.Lock()
	e.key = true
	e.mu.Unlock()
}

// SetBitrate sets the target bitrate; it takes effect at the next Encode
// (only when it differs from the current one, as reconfiguring costs time).
func (e *Encoder) SetBitrate(kbps int) {
	if kbps < 30 {
		kbps = 30
	}
	e.mu.Lock()
	e.kbps = kbps
	e.mu.Unlock()
}

// Bitrate returns the target bitrate in kbit/s currently applied.
func (e *Encoder) Bitrate() int { return e.cur }

// Encode compresses one I420 frame (y: stride Width, u/v: stride Width/2)
// with the given presentation time in milliseconds. The returned slice is
// valid until the next Encode; it is empty if the encoder produced no
// frame. key reports whether the frame is a keyframe.
func (e *Encoder) Encode(y, u, v []byte, ptsMillis int64) (frame []byte, key bool, err error) {
	if e.enc == nil {
		return nil, false, ErrClosed
	}
	w, h := e.cfg.Width, e.cfg.Height
	if len(y) < w*h || len(u) < w*h/4 || len(v) < w*h/4 {
		return nil, false, ErrBadFrame
	}
	e.mu.Lock()
	force, kbps := e.key, e.kbps
	e.key = false
	e.mu.Unlock()
	if kbps != e.cur {
		if rc := C.mx_enc_set_bitrate(e.enc, C.int(kbps)); rc != 0 {
			return nil, false, fmt.Errorf("%w: config_set %d", ErrCodec, int(rc))
		}
		e.cur = kbps
	}
	fk := C.int(0)
	if force {
		fk = 1
	}
	rc := C.mx_enc_encode(e.enc, (*C.uint8_t)(unsafe.Pointer(&y[0])), (*C.uint8_t)(unsafe.Pointer(&u[0])),
		(*C.uint8_t)(unsafe.Pointer(&v[0])), C.int(w), C.int(w/2), C.int64_t(ptsMillis), fk)
	if rc != 0 {
		return nil, false, fmt.Errorf("%w: encode %d", ErrCodec, int(rc))
	}
	n := int(e.enc.out_len)
	if n == 0 || e.enc.out == nil {
		return nil, false, nil
	}
	if cap(e.buf) < n {
		e.buf = make([]byte, n, n*2)
	}
	e.buf = e.buf[:n]
	copy(e.buf, unsafe.Slice((*byte)(unsafe.Pointer(e.enc.out)), n))
	return e.buf, e.enc.out_key != 0, nil
}

// Close frees the encoder. It is idempotent.
func (e *Encoder) Close() error {
	if e.enc != nil {
		C.mx_enc_free(e.enc)
		e.enc = nil
	}
	return nil
}
