package framecrypt

import "errors"

// Sentinel errors of package framecrypt. A frame that fails with any of
// them is to be dropped; none of them is fatal for the stream.
var (
	// ErrNoKey is returned when the key index a frame names (or the
	// encryptor's current index) holds no key.
	ErrNoKey = errors.New("framecrypt: no key at index")
	// ErrDecrypt is returned when the frame's tag does not verify under the
	// key at its index nor under any ratchet of it within the window: a
	// wrong key, a tampered frame or a frame that was never encrypted.
	ErrDecrypt = errors.New("framecrypt: decryption failed")
	// ErrMalformed is returned for a frame too short for its codec's clear
	// header and the trailer, a trailer whose IV length is not 12, or a
	// server-injected frame whose payload is not one the server injects.
	ErrMalformed = errors.New("framecrypt: malformed frame")
	// ErrUnsupportedCodec is returned for a codec this package does not
	// encrypt (H.264, H.265 and AV1 among them).
	ErrUnsupportedCodec = errors.New("framecrypt: unsupported codec")
	// ErrInvalidKey is returned by SetKey for empty key material.
	ErrInvalidKey = errors.New("framecrypt: invalid key material")
)
