package media

/*
#cgo pkg-config: speexdsp
#include <stdlib.h>
#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>

static SpeexEchoState *mx_aec_new(int frame, int tail, int rate) {
	SpeexEchoState *st = speex_echo_state_init(frame, tail);
	speex_echo_ctl(st, SPEEX_ECHO_SET_SAMPLING_RATE, &rate);
	return st;
}

static SpeexPreprocessState *mx_pp_new(int frame, int rate, SpeexEchoState *st) {
	SpeexPreprocessState *pp = speex_preprocess_state_init(frame, rate);
	int off = 0;
	speex_preprocess_ctl(pp, SPEEX_PREPROCESS_SET_DENOISE, &off);
	speex_preprocess_ctl(pp, SPEEX_PREPROCESS_SET_AGC, &off);
	speex_preprocess_ctl(pp, SPEEX_PREPROCESS_SET_ECHO_STATE, st);
	return pp;
}

static void mx_aec_cancel(SpeexEchoState *st, SpeexPreprocessState *pp, const spx_int16_t *in, const spx_int16_t *far, spx_int16_t *out) {
	speex_echo_cancellation(st, in, far, out);
	speex_preprocess_run(pp, out);
}
*/
import "C"

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

const (
	aecFrame = sampleRate / 100    // 10 ms blocks
	aecTail  = sampleRate * 3 / 10 // 300 ms echo tail (speaker → sound server → room → mic)
	aecLead  = sampleRate * 3 / 10 // most far-end audio kept ahead of the microphone
	// aecMargin is how far the far end is kept ahead of the microphone
	// when pairing starts: enough to ride out callback jitter, so the
	// pairing never runs dry and keeps one fixed alignment, and less than
	// any real echo delay (output and input buffers, converters, air).
	aecMargin = sampleRate * 3 / 100 // 30 ms
)

// echoEnabled switches the in-app echo canceller (default on).
var echoEnabled atomic.Bool

func init() { echoEnabled.Store(true) }

// SetEchoCancellation turns the in-app acoustic echo canceller on or off
// for microphones opened afterwards. Turn it off when the system already
// cancels echo (PipeWire/PulseAudio module-echo-cancel): cancellers must
// not be stacked.
func SetEchoCancellation(on bool) { echoEnabled.Store(on) }

// echoCanceller is speexdsp's MDF echo canceller plus its residual echo
// suppressor. The far end is what Players play (fed from their device
// callbacks); the near end is the microphone. It only runs while something
// is being played: with a silent far end the microphone passes through.
//
// The far end is paired with the microphone through our own FIFO, one
// block out per microphone block, rather than speex_echo_playback/capture:
// sound devices call back with blocks of 10–40 ms, and speex's own
// two-block buffer then discards playback frames and loses alignment.
type echoCanceller struct {
	mu       sync.Mutex
	st       *C.SpeexEchoState
	pp       *C.SpeexPreprocessState
	far      []int16 // played samples not yet paired with the microphone
	farBlock []int16
	primed   bool // pairing runs with a fixed alignment
	lastPlay time.Time
	out      []int16
}

func newEchoCanceller() *echoCanceller {
	st := C.mx_aec_new(aecFrame, aecTail, sampleRate)
	return &echoCanceller{
		st:       st,
		pp:       C.mx_pp_new(aecFrame, sampleRate, st),
		far:      make([]int16, 0, 2*aecLead),
		farBlock: make([]int16, aecFrame),
		out:      make([]int16, aecFrame),
	}
}

// played hands over far-end samples as they reach the speaker.
func (e *echoCanceller) played(pcm []int16) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st == nil {
		return
	}
	e.lastPlay = time.Now()
	e.far = append(e.far, pcm...)
	if extra := len(e.far) - aecLead; extra > 0 {
		// The microphone stalled: keep the newest lead only (in place, no
		// allocation).
		e.far = e.far[:copy(e.far, e.far[extra:])]
	}
}

// capture cancels echo in one aecFrame block of microphone samples, in place.
func (e *echoCanceller) capture(block []int16) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st == nil || len(block) != aecFrame || time.Since(e.lastPlay) > 200*time.Millisecond {
		return
	}
	if !e.primed || len(e.far) < aecFrame {
		// (Re)start pairing once a margin of far end is buffered; until
		// then the microphone passes through. Starting again changes the
		// alignment, which the filter must learn anew: it happens only at
		// start and after a stall.
		e.primed = false
		if len(e.far) < aecMargin {
			return
		}
		e.far = e.far[:copy(e.far, e.far[len(e.far)-aecMargin:])]
		e.primed = true
	}
	copy(e.farBlock, e.far)
	e.far = e.far[:copy(e.far, e.far[aecFrame:])]
	C.mx_aec_cancel(e.st, e.pp, (*C.spx_int16_t)(unsafe.Pointer(&block[0])),
		(*C.spx_int16_t)(unsafe.Pointer(&e.farBlock[0])), (*C.spx_int16_t)(unsafe.Pointer(&e.out[0])))
	copy(block, e.out)
}

func (e *echoCanceller) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st != nil {
		C.speex_preprocess_state_destroy(e.pp)
		C.speex_echo_state_destroy(e.st)
		e.st, e.pp = nil, nil
	}
}

// The canceller shared by the open microphone and all Players.
var (
	aecMu     sync.Mutex
	activeAEC *echoCanceller
)

// startEcho creates the shared canceller for a microphone being opened.
func startEcho() *echoCanceller {
	if !echoEnabled.Load() {
		return nil
	}
	aecMu.Lock()
	defer aecMu.Unlock()
	if activeAEC != nil {
		activeAEC.close()
	}
	activeAEC = newEchoCanceller()
	return activeAEC
}

// stopEcho releases it when that microphone closes.
func stopEcho(e *echoCanceller) {
	if e == nil {
		return
	}
	aecMu.Lock()
	if activeAEC == e {
		activeAEC = nil
	}
	aecMu.Unlock()
	e.close()
}

// farEnd passes played samples to the active canceller, if any.
func farEnd(pcm []int16) {
	aecMu.Lock()
	e := activeAEC
	aecMu.Unlock()
	if e != nil {
		e.played(pcm)
	}
}
