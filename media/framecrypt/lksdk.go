package framecrypt

import (
	"math/rand/v2"
	"sync/atomic"
)

// FrameEncryptor adapts an Encryptor to one track with the interface of
// server-sdk-go/v2's e2ee/types.FrameEncryptor (WithFrameEncryptor), which
// passes neither SSRC nor RTP timestamp: the IV carries the SSRC given to
// NewFrameEncryptor and, in the timestamp's place, a per-frame counter from
// a random start. Receivers read the IV from the frame, so they do not
// notice; the IV stays unique per key for 2³² frames.
type FrameEncryptor struct {
	enc   *Encryptor
	codec Codec
	ssrc  uint32
	ts    atomic.Uint32
}

// NewFrameEncryptor returns a FrameEncryptor for frames of codec.
func NewFrameEncryptor(enc *Encryptor, codec Codec, ssrc uint32) *FrameEncryptor {
	f := &FrameEncryptor{enc: enc, codec: codec, ssrc: ssrc}
	f.ts.Store(rand.Uint32())
	return f
}

// EncryptFrame returns the encrypted form of payload in a new slice.
func (f *FrameEncryptor) EncryptFrame(payload []byte) ([]byte, error) {
	if len(payload) == 0 {
		return payload, nil
	}
	out, err := f.enc.Encrypt(make([]byte, 0, len(payload)+Overhead), payload, f.codec, f.ssrc, f.ts.Add(1))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FrameDecryptor adapts a Decryptor to one track with the interface of
// server-sdk-go/v2's e2ee/types.FrameDecryptor (e2ee.NewTrackDecryptor).
// Unlike server-sdk-go's own decryptor, which returns (nil, nil) for a
// server-injected frame, it passes a known SIF payload on, as
// livekit-client does.
type FrameDecryptor struct {
	dec   *Decryptor
	codec Codec
}

// NewFrameDecryptor returns a FrameDecryptor for frames of codec.
func NewFrameDecryptor(dec *Decryptor, codec Codec) *FrameDecryptor {
	return &FrameDecryptor{dec: dec, codec: codec}
}

// DecryptFrame returns the decrypted form of payload in a new slice.
func (f *FrameDecryptor) DecryptFrame(payload []byte) ([]byte, error) {
	if len(payload) == 0 {
		return payload, nil
	}
	out, err := f.dec.Decrypt(make([]byte, 0, len(payload)), payload, f.codec)
	if err != nil {
		return nil, err
	}
	return out, nil
}
