package framecrypt

import "testing"

// Frame sizes for 720p VP8 at the ~1.5–2 Mbit/s a call gets: a key frame
// of 50 KB, a delta frame of 8 KB; and a 20 ms Opus frame at 48 kbit/s.
var benchFrames = []struct {
	name     string
	codec    Codec
	keyframe bool
	size     int
}{
	{"vp8-key-50KB", CodecVP8, true, 50_000},
	{"vp8-delta-8KB", CodecVP8, false, 8_000},
	{"opus-120B", CodecOpus, false, 120},
}

func benchPair(b *testing.B) (*Encryptor, *Decryptor) {
	b.Helper()
	ring := NewKeyRing()
	if err := ring.SetKey(0, testKey(1)); err != nil {
		b.Fatal(err)
	}
	return NewEncryptor(ring), NewDecryptor(ring)
}

// BenchmarkEncryptDecrypt is one frame's whole cost: encrypt on the sender
// plus decrypt on the receiver, into reused buffers.
func BenchmarkEncryptDecrypt(b *testing.B) {
	for _, f := range benchFrames {
		b.Run(f.name, func(b *testing.B) {
			enc, dec := benchPair(b)
			frame := testFrame(1, f.codec, f.keyframe, f.size)
			ct := make([]byte, 0, f.size+Overhead)
			pt := make([]byte, 0, f.size)
			b.SetBytes(int64(f.size))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				var err error
				if ct, err = enc.Encrypt(ct[:0], frame, f.codec, 1, uint32(i)); err != nil {
					b.Fatal(err)
				}
				if pt, err = dec.Decrypt(pt[:0], ct, f.codec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncrypt(b *testing.B) {
	for _, f := range benchFrames {
		b.Run(f.name, func(b *testing.B) {
			enc, _ := benchPair(b)
			frame := testFrame(1, f.codec, f.keyframe, f.size)
			ct := make([]byte, 0, f.size+Overhead)
			b.SetBytes(int64(f.size))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				var err error
				if ct, err = enc.Encrypt(ct[:0], frame, f.codec, 1, uint32(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecrypt(b *testing.B) {
	for _, f := range benchFrames {
		b.Run(f.name, func(b *testing.B) {
			enc, dec := benchPair(b)
			frame := testFrame(1, f.codec, f.keyframe, f.size)
			ct, err := enc.Encrypt(nil, frame, f.codec, 1, 1)
			if err != nil {
				b.Fatal(err)
			}
			pt := make([]byte, 0, f.size)
			b.SetBytes(int64(f.size))
			b.ReportAllocs()
			for b.Loop() {
				if pt, err = dec.Decrypt(pt[:0], ct, f.codec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecryptWrongKey is the cost of a frame that fails under the key
// and all 10 ratchets (ratchets derived once, then cached): what each frame
// costs while a sender uses a key we hold wrong.
func BenchmarkDecryptWrongKey(b *testing.B) {
	enc, _ := benchPair(b)
	frame := testFrame(1, CodecVP8, false, 8_000)
	ct, err := enc.Encrypt(nil, frame, CodecVP8, 1, 1)
	if err != nil {
		b.Fatal(err)
	}
	ring := NewKeyRing()
	if err := ring.SetKey(0, testKey(2)); err != nil {
		b.Fatal(err)
	}
	dec := NewDecryptor(ring)
	pt := make([]byte, 0, len(frame))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dec.Decrypt(pt[:0], ct, CodecVP8); err == nil {
			b.Fatal("decrypted under the wrong key")
		}
	}
}
