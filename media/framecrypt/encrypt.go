package framecrypt

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
)

// Encryptor encrypts the local participant's encoded frames with the key
// at its KeyRing's current index. One Encryptor may serve every local
// track (it keeps a send counter per SSRC); it is safe for concurrent use.
type Encryptor struct {
	ring *KeyRing

	mu         sync.Mutex
	sendCounts map[uint32]uint64
	startCount func() uint64 // first send count of a new SSRC
}

// NewEncryptor returns an Encryptor that takes its keys from ring.
func NewEncryptor(ring *KeyRing) *Encryptor {
	return &Encryptor{
		ring:       ring,
		sendCounts: make(map[uint32]uint64),
		// livekit-client: Math.floor(Math.random() * 0xffff).
		startCount: func() uint64 { return rand.Uint64N(0xffff) },
	}
}

// Encrypt appends the encrypted form of frame (one whole encoded frame, as
// the encoder produced it, before packetisation) to dst and returns the
// extended slice:
//
//	[clear header][AES-GCM ciphertext + 16-byte tag][IV, 12 bytes][0x0C][key index]
//
// The clear header (see Codec) is also the additional authenticated data.
// For VP8 the key-frame bit of frame[0] picks the header size, as the
// receiver's depacketiser does. The IV is ssrc (u32 BE) ‖ rtpTimestamp
// (u32 BE) ‖ rtpTimestamp − (sendCount mod 0xFFFF), sendCount counting
// frames per SSRC from a random start. An empty frame (Opus DTX) is
// returned as is. Encrypt adds len(frame)+Overhead bytes and allocates
// nothing once dst has room. dst must not overlap frame. On error dst is
// returned unchanged.
func (e *Encryptor) Encrypt(dst, frame []byte, codec Codec, ssrc, rtpTimestamp uint32) ([]byte, error) {
	if len(frame) == 0 {
		return dst, nil
	}
	hdr, ok := clearLen(codec, frame)
	if !ok {
		return dst, ErrUnsupportedCodec
	}
	if len(frame) < hdr {
		return dst, ErrMalformed
	}
	index := e.ring.CurrentIndex()
	ks := e.ring.slots[index].Load()
	if ks == nil {
		return dst, ErrNoKey
	}

	n := len(dst)
	ctLen := len(frame) - hdr + tagLen
	out := grow(dst, hdr+ctLen+trailerLen)
	copy(out[n:], frame[:hdr])
	// Write the trailer first, so the IV handed to Seal lives in out (a
	// slice of a stack array would escape through the AEAD interface).
	tr := out[n+hdr+ctLen:]
	binary.BigEndian.PutUint32(tr[0:], ssrc)
	binary.BigEndian.PutUint32(tr[4:], rtpTimestamp)
	binary.BigEndian.PutUint32(tr[8:], rtpTimestamp-uint32(e.nextSendCount(ssrc)%0xffff))
	tr[ivLen] = ivLen
	tr[ivLen+1] = index
	ks.aead.Seal(out[:n+hdr], tr[:ivLen], frame[hdr:], frame[:hdr])
	return out, nil
}

// nextSendCount returns the SSRC's send count and advances it.
func (e *Encryptor) nextSendCount(ssrc uint32) uint64 {
	e.mu.Lock()
	c, ok := e.sendCounts[ssrc]
	if !ok {
		c = e.startCount()
	}
	e.sendCounts[ssrc] = c + 1
	e.mu.Unlock()
	return c
}

// grow returns dst extended by n bytes, reallocating only when its
// capacity is short.
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst[:len(dst)+n]
	}
	out := make([]byte, len(dst)+n, 2*len(dst)+n)
	copy(out, dst)
	return out
}
