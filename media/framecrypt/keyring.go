package framecrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"strings"
	"sync/atomic"
)

// Key derivation constants (livekit-client e2ee/constants.ts and utils.ts).
const (
	// Salt is the HKDF salt of both key derivation and ratcheting.
	Salt = "LKFrameEncryptionKey"
	// DefaultRatchetWindow is how many ratchet steps Decrypt tries after a
	// failure, as Element Call's key provider sets (ratchetWindowSize 10).
	DefaultRatchetWindow = 10

	keyLen     = 16 // AES-128
	ratchetLen = 32 // deriveBits(…, 256)
	ivLen      = 12
	tagLen     = 16
	trailerLen = ivLen + 2 // IV, IV length, key index
	// Overhead is how many bytes Encrypt adds to a non-empty frame.
	Overhead = tagLen + trailerLen
)

// hkdfInfo is the HKDF info: 128 zero bytes (new ArrayBuffer(128)).
var hkdfInfo = strings.Repeat("\x00", 128)

// keySet is one key's material and the AEAD derived from it. It is
// immutable once built, except for next, the lazily computed ratchet
// successor, so a chain of ratchets is derived once however many frames
// walk it.
type keySet struct {
	material []byte
	aead     cipher.AEAD
	next     atomic.Pointer[keySet]
}

// newKeySet derives the AES-128-GCM key from material: HKDF-SHA256 with
// salt "LKFrameEncryptionKey", info 128 zero bytes, 16 bytes of output.
func newKeySet(material []byte) (*keySet, error) {
	key, err := hkdf.Key(sha256.New, material, []byte(Salt), hkdfInfo, keyLen)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &keySet{material: material, aead: aead}, nil
}

// ratchetMaterial is one ratchet step: HKDF-SHA256 of the material with the
// same salt and info, 32 bytes of output, which become the new material.
func ratchetMaterial(material []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, material, []byte(Salt), hkdfInfo, ratchetLen)
}

// ratcheted returns the key set one ratchet step after ks, deriving it on
// first use.
func (ks *keySet) ratcheted() (*keySet, error) {
	if n := ks.next.Load(); n != nil {
		return n, nil
	}
	m, err := ratchetMaterial(ks.material)
	if err != nil {
		return nil, err
	}
	n, err := newKeySet(m)
	if err != nil {
		return nil, err
	}
	if !ks.next.CompareAndSwap(nil, n) {
		return ks.next.Load(), nil
	}
	return n, nil
}

// KeyRing holds one participant's keys, by index 0–255 (livekit-client's
// ParticipantKeyHandler with keyringSize 256, as Element Call sets it).
// Use one KeyRing for the local participant (with an Encryptor) and one
// per remote participant (with a Decryptor). A KeyRing is safe for
// concurrent use; reading keys takes no lock.
type KeyRing struct {
	slots   [256]atomic.Pointer[keySet]
	current atomic.Uint32
	window  int
}

// Option configures a KeyRing.
type Option func(*KeyRing)

// WithRatchetWindow sets how many ratchet steps Decrypt tries on a frame
// that fails under the key at its index (default DefaultRatchetWindow; 0
// turns auto-ratcheting off, as livekit-client does for shared keys).
func WithRatchetWindow(n int) Option {
	return func(r *KeyRing) {
		if n >= 0 {
			r.window = n
		}
	}
}

// NewKeyRing returns an empty key ring whose current index is 0.
func NewKeyRing(opts ...Option) *KeyRing {
	r := &KeyRing{window: DefaultRatchetWindow}
	for _, o := range opts {
		o(r)
	}
	return r
}

// SetKey derives the frame key from material (the raw key bytes received
// over Matrix, of any non-zero length; Element sends 16) and stores it at
// index, replacing any key (or ratchet of it) there. It does not change
// the current index. It copies material.
func (r *KeyRing) SetKey(index uint8, material []byte) error {
	if len(material) == 0 {
		return ErrInvalidKey
	}
	ks, err := newKeySet(append([]byte(nil), material...))
	if err != nil {
		return err
	}
	r.slots[index].Store(ks)
	return nil
}

// RemoveKey forgets the key at index.
func (r *KeyRing) RemoveKey(index uint8) {
	r.slots[index].Store(nil)
}

// HasKey reports whether a key is stored at index.
func (r *KeyRing) HasKey(index uint8) bool {
	return r.slots[index].Load() != nil
}

// SetCurrentIndex selects the key index the Encryptor uses from now on
// (Element switches to a new key a second after sending it).
func (r *KeyRing) SetCurrentIndex(index uint8) {
	r.current.Store(uint32(index))
}

// CurrentIndex returns the key index the Encryptor uses.
func (r *KeyRing) CurrentIndex() uint8 {
	return uint8(r.current.Load())
}

// Ratchet replaces the key at index by its next ratchet step and returns
// the new material (livekit-client's ratchetKey: what a sender that
// ratchets its own key would hand out). Receivers follow such a step by
// themselves: Decrypt ratchets when a frame fails.
func (r *KeyRing) Ratchet(index uint8) ([]byte, error) {
	for {
		ks := r.slots[index].Load()
		if ks == nil {
			return nil, ErrNoKey
		}
		n, err := ks.ratcheted()
		if err != nil {
			return nil, err
		}
		if r.slots[index].CompareAndSwap(ks, n) {
			return append([]byte(nil), n.material...), nil
		}
	}
}

// RatchetMaterial returns material ratcheted steps times (0 returns a copy),
// the chain a sender's Ratchet calls produce.
func RatchetMaterial(material []byte, steps int) ([]byte, error) {
	m := append([]byte(nil), material...)
	for range steps {
		var err error
		if m, err = ratchetMaterial(m); err != nil {
			return nil, err
		}
	}
	return m, nil
}
