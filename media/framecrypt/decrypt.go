package framecrypt

import (
	"bytes"
	"sync/atomic"
)

// Decryptor decrypts one remote participant's frames with the keys in its
// KeyRing. It is safe for concurrent use (audio and video of one
// participant may share it).
type Decryptor struct {
	ring *KeyRing
	sif  atomic.Pointer[[]byte]
}

// NewDecryptor returns a Decryptor that takes its keys from ring.
func NewDecryptor(ring *KeyRing) *Decryptor {
	return &Decryptor{ring: ring}
}

// SetSIFTrailer sets the trailer that marks frames the server injected in
// the clear (the SFU's JoinResponse.sif_trailer); nil or empty turns the
// check off. It copies trailer.
func (d *Decryptor) SetSIFTrailer(trailer []byte) {
	if len(trailer) == 0 {
		d.sif.Store(nil)
		return
	}
	t := append([]byte(nil), trailer...)
	d.sif.Store(&t)
}

// Decrypt appends the decrypted form of frame (one whole frame, as the
// frame assembler joined it, before the decoder) to dst and returns the
// extended slice. The key is the one at the index in the frame's last
// byte; when the tag does not verify, Decrypt tries up to the ring's
// ratchet window of ratchet steps of that key and, when one fits, keeps it
// at that index in place of the key. An empty frame is returned as is. A
// frame that ends with the SIF trailer is stripped of it and passed
// through when the rest is a frame the server injects (an 8×8 VP8 key
// frame, an Opus silence frame), else rejected. Decrypt allocates nothing
// once dst has room (ratcheting does). dst must not overlap frame. On
// error dst is returned unchanged; the frame is to be dropped.
func (d *Decryptor) Decrypt(dst, frame []byte, codec Codec) ([]byte, error) {
	if len(frame) == 0 {
		return dst, nil
	}
	hdr, ok := clearLen(codec, frame)
	if !ok {
		return dst, ErrUnsupportedCodec
	}
	if sif := d.sif.Load(); sif != nil && bytes.HasSuffix(frame, *sif) {
		payload := frame[:len(frame)-len(*sif)]
		if !isServerInjected(codec, payload) {
			return dst, ErrMalformed
		}
		return append(dst, payload...), nil
	}
	if len(frame) < hdr+tagLen+trailerLen || frame[len(frame)-2] != ivLen {
		return dst, ErrMalformed
	}
	index := frame[len(frame)-1]
	slot := &d.ring.slots[index]
	ks := slot.Load()
	if ks == nil {
		return dst, ErrNoKey
	}
	iv := frame[len(frame)-trailerLen : len(frame)-2]
	ct := frame[hdr : len(frame)-trailerLen]
	aad := frame[:hdr]
	n := len(dst)
	out := append(dst, aad...)
	if res, err := ks.aead.Open(out, iv, ct, aad); err == nil {
		return res, nil
	}
	try := ks
	for range d.ring.window {
		next, err := try.ratcheted()
		if err != nil {
			break
		}
		try = next
		if res, err := try.aead.Open(out, iv, ct, aad); err == nil {
			// Keep the ratcheted key unless the slot changed meanwhile
			// (a new key, or another frame's ratchet).
			slot.CompareAndSwap(ks, try)
			return res, nil
		}
	}
	return dst[:n], ErrDecrypt
}
