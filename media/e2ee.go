package media

import (
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/mxcall/mxcall/media/framecrypt"
)

// Media end-to-end encryption (MatrixRTC, LiveKit's frame format): our
// encoded frames are encrypted after the encoder and before packetisation,
// remote frames decrypted after the frame assembler and before the
// decoder. See package framecrypt for the format.

// trackCrypt is a local track's encryption: the encryptor and what its IV
// is made of. The IV only has to be unique per key: receivers read it from
// the frame, so it need not be the real SSRC and RTP timestamp (which the
// sample track picks per sender); a random per-track SSRC and a timestamp
// that advances with the frames' durations serve.
type trackCrypt struct {
	enc   atomic.Pointer[framecrypt.Encryptor]
	codec framecrypt.Codec
	clock float64
	ssrc  uint32
	// Owned by the track's writer (one goroutine).
	ts  uint32
	buf []byte
}

func newTrackCrypt(codec framecrypt.Codec, clockRate uint32) *trackCrypt {
	return &trackCrypt{codec: codec, clock: float64(clockRate), ssrc: rand.Uint32(), ts: rand.Uint32()}
}

// seal encrypts frame when encryption is on. ok is false when the frame
// must not be sent (encryption is on but failed: no key yet); frames never
// go out in the clear once SetEncryption was given an encryptor.
func (c *trackCrypt) seal(frame []byte, d time.Duration) (out []byte, ok bool) {
	enc := c.enc.Load()
	if enc == nil {
		return frame, true
	}
	c.ts += uint32(d.Seconds() * c.clock)
	b, err := enc.Encrypt(c.buf[:0], frame, c.codec, c.ssrc, c.ts)
	if err != nil {
		return nil, false
	}
	c.buf = b
	return b, true
}

// SetEncryption makes the Source encrypt every frame it sends with enc
// (audio and video; LiveKit's frame format, keys from enc's key ring).
// While enc has no key, frames are dropped, never sent in the clear. nil
// turns encryption off, for calls whose room is not encrypted.
func (s *Source) SetEncryption(enc *framecrypt.Encryptor) {
	s.video.crypt.enc.Store(enc)
	s.audio.crypt.enc.Store(enc)
}

// SinkOption configures a VideoSink or AudioSink.
type SinkOption func(*sinkConfig)

type sinkConfig struct {
	dec *framecrypt.Decryptor
}

// WithDecryptor makes the sink decrypt every frame with dec before
// decoding it. Frames that do not decrypt (no key yet, a wrong key, a
// tampered frame) are dropped and counted, never decoded.
func WithDecryptor(dec *framecrypt.Decryptor) SinkOption {
	return func(c *sinkConfig) { c.dec = dec }
}

func sinkOptions(opts []SinkOption) sinkConfig {
	var c sinkConfig
	for _, o := range opts {
		o(&c)
	}
	return c
}
