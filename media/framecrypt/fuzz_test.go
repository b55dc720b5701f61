package framecrypt

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"
)

// fuzzRing holds keys at indexes 0 and 1; seeds are encrypted under them.
func fuzzRing(f *testing.F) (*Encryptor, *Decryptor) {
	f.Helper()
	ring := NewKeyRing(WithRatchetWindow(2))
	for i := range 2 {
		if err := ring.SetKey(uint8(i), testKey(byte(10*i))); err != nil {
			f.Fatal(err)
		}
	}
	dec := NewDecryptor(ring)
	dec.SetSIFTrailer([]byte("sif-trailer"))
	return NewEncryptor(ring), dec
}

// FuzzDecrypt: no input panics, a failure leaves dst as given and returns a
// sentinel error, and a success has the length the format implies.
func FuzzDecrypt(f *testing.F) {
	enc, dec := fuzzRing(f)
	for i, c := range []Codec{CodecVP8, CodecVP8, CodecOpus, CodecVP9} {
		ct, err := enc.Encrypt(nil, testFrame(uint64(i), c, i == 0, 40), c, 1, 2)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ct, byte(c))
	}
	f.Add(append(bytes.Clone(sifVP8KeyFrame8x8), "sif-trailer"...), byte(CodecVP8))
	f.Add([]byte{}, byte(CodecOpus))
	f.Add([]byte{0x0c, 0x00}, byte(CodecVP9))
	if raw, err := os.ReadFile("testdata/vectors.json"); err == nil {
		var v vectors
		if json.Unmarshal(raw, &v) == nil {
			for _, c := range v.Cases {
				if len(c.Ciphertext) < 2000 {
					f.Add(c.Ciphertext, byte(CodecVP8))
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte, codecByte byte) {
		codec := Codec(codecByte % 5)
		dst := []byte{0xaa, 0xbb}
		out, err := dec.Decrypt(dst, frame, codec)
		if err != nil {
			if !bytes.Equal(out, dst) {
				t.Fatalf("error %v but dst changed to %x", err, out)
			}
			for _, s := range []error{ErrDecrypt, ErrNoKey, ErrMalformed, ErrUnsupportedCodec} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error %v is not a sentinel", err)
		}
		n := len(out) - len(dst)
		switch {
		case len(frame) == 0:
			if n != 0 {
				t.Fatalf("empty frame gave %d bytes", n)
			}
		case bytes.HasSuffix(frame, []byte("sif-trailer")):
			if n != len(frame)-len("sif-trailer") {
				t.Fatalf("SIF frame of %d bytes gave %d", len(frame), n)
			}
		default:
			if n != len(frame)-Overhead {
				t.Fatalf("frame of %d bytes decrypted to %d", len(frame), n)
			}
		}
	})
}

// FuzzRoundTrip: whatever the frame, Decrypt undoes Encrypt.
func FuzzRoundTrip(f *testing.F) {
	enc, dec := fuzzRing(f)
	f.Add([]byte{0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, byte(CodecVP8), uint32(1), uint32(2))
	f.Add([]byte{0x78}, byte(CodecOpus), uint32(0), uint32(0xffffffff))
	f.Fuzz(func(t *testing.T, frame []byte, codecByte byte, ssrc, ts uint32) {
		codec := Codec(codecByte % 5)
		ct, err := enc.Encrypt(nil, frame, codec, ssrc, ts)
		if err != nil {
			return // unsupported codec, or shorter than its clear header
		}
		// (An encrypted frame ends with 0x0c and the index, never with the
		// SIF trailer.)
		pt, err := dec.Decrypt(nil, ct, codec)
		if err != nil {
			t.Fatalf("Decrypt(Encrypt(%x)): %v", frame, err)
		}
		if !bytes.Equal(pt, frame) {
			t.Fatalf("round trip of %x gave %x", frame, pt)
		}
	})
}
