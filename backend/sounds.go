package backend

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/mxcall/mxcall/media"
)

// errNotWAV means a sound is not 16-bit PCM mono WAV.
var errNotWAV = errors.New("backend: not a 16-bit mono PCM WAV")

// playRate is the media.Player's sample rate.
const playRate = 48000

// Play plays a WAV (16-bit mono PCM, any rate that divides 48 kHz) on the
// chosen speaker, looping if asked, until stop. Errors are logged: a
// missing ringtone must not break a call.
func (b *Backend) Play(wav []byte, loop bool) (stop func()) {
	pcm, err := decodeWAV(wav)
	if err != nil {
		b.log.Warn("sound", "err", err)
		return func() {}
	}
	b.mu.Lock()
	speaker := b.settings.Speaker
	b.mu.Unlock()
	p, err := media.NewPlayer(speaker)
	if err != nil {
		if p, err = media.NewPlayer(""); err != nil {
			b.log.Warn("sound", "err", err)
			return func() {}
		}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer func() { _ = p.Close() }()
		const chunk = playRate / 50 // 20 ms
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			for i := 0; i < len(pcm); i += chunk {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				p.WriteAudio(pcm[i:min(i+chunk, len(pcm))])
			}
			if !loop {
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		<-finished
	}
}

// decodeWAV returns the samples of a 16-bit mono PCM WAV, resampled to
// 48 kHz by sample repetition (the bundled tones are 16 kHz sine waves).
func decodeWAV(b []byte) ([]int16, error) {
	if len(b) < 44 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, errNotWAV
	}
	var rate uint32
	var data []byte
	for off := 12; off+8 <= len(b); {
		id := string(b[off : off+4])
		size := int(binary.LittleEndian.Uint32(b[off+4 : off+8]))
		body := b[off+8 : min(off+8+size, len(b))]
		switch id {
		case "fmt ":
			if len(body) < 16 || binary.LittleEndian.Uint16(body[0:2]) != 1 ||
				binary.LittleEndian.Uint16(body[2:4]) != 1 || binary.LittleEndian.Uint16(body[14:16]) != 16 {
				return nil, errNotWAV
			}
			rate = binary.LittleEndian.Uint32(body[4:8])
		case "data":
			data = body
		}
		off += 8 + size + size%2
	}
	if rate == 0 || playRate%rate != 0 || data == nil {
		return nil, errNotWAV
	}
	n := len(data) / 2
	in := make([]int16, n)
	if err := binary.Read(bytes.NewReader(data[:2*n]), binary.LittleEndian, in); err != nil {
		return nil, err
	}
	k := int(playRate / rate)
	out := make([]int16, 0, n*k)
	for _, s := range in {
		for range k {
			out = append(out, s)
		}
	}
	return out, nil
}
