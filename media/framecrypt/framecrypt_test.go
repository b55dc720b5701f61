package framecrypt

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
)

// testFrame returns n pseudo-random bytes shaped as a frame of codec: a
// VP8 key frame has bit 0 of its first byte clear, a delta frame set.
func testFrame(seed uint64, codec Codec, keyframe bool, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if n > 0 && codec == CodecVP8 {
		if keyframe {
			b[0] &^= 1
		} else {
			b[0] |= 1
		}
	}
	return b
}

func testKey(seed byte) []byte {
	k := make([]byte, 16)
	for i := range k {
		k[i] = seed + byte(i)
	}
	return k
}

// pair returns an Encryptor and a Decryptor holding the same key at index.
func pair(t *testing.T, index uint8, opts ...Option) (*Encryptor, *KeyRing, *Decryptor, *KeyRing) {
	t.Helper()
	tx, rx := NewKeyRing(opts...), NewKeyRing(opts...)
	if err := tx.SetKey(index, testKey(1)); err != nil {
		t.Fatal(err)
	}
	if err := rx.SetKey(index, testKey(1)); err != nil {
		t.Fatal(err)
	}
	tx.SetCurrentIndex(index)
	return NewEncryptor(tx), tx, NewDecryptor(rx), rx
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		codec    Codec
		keyframe bool
		size     int
		clear    int
	}{
		{"vp8 key", CodecVP8, true, 50_000, 10},
		{"vp8 delta", CodecVP8, false, 8_000, 3},
		{"vp8 key header only", CodecVP8, true, 10, 10},
		{"vp8 delta header only", CodecVP8, false, 3, 3},
		{"vp8 one-byte delta", CodecVP8, false, 4, 3},
		{"opus", CodecOpus, false, 120, 1},
		{"opus toc only", CodecOpus, false, 1, 1},
		{"vp9", CodecVP9, true, 3_000, 0},
		{"vp9 one byte", CodecVP9, false, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, _, dec, _ := pair(t, 42)
			frame := testFrame(uint64(tt.size), tt.codec, tt.keyframe, tt.size)
			prefix := []byte("prefix")
			ct, err := enc.Encrypt(append([]byte(nil), prefix...), frame, tt.codec, 0xdeadbeef, 90000)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(ct, prefix) {
				t.Fatal("Encrypt lost dst's contents")
			}
			ct = ct[len(prefix):]
			if len(ct) != len(frame)+Overhead {
				t.Fatalf("encrypted length %d, want %d", len(ct), len(frame)+Overhead)
			}
			if !bytes.Equal(ct[:tt.clear], frame[:tt.clear]) {
				t.Errorf("clear header %x, want %x", ct[:tt.clear], frame[:tt.clear])
			}
			if tt.size-tt.clear >= 8 && bytes.Contains(ct, frame[tt.clear:tt.clear+8]) {
				t.Error("plaintext appears in the encrypted frame")
			}
			if ct[len(ct)-2] != 12 || ct[len(ct)-1] != 42 {
				t.Errorf("trailer %x, want 0c2a", ct[len(ct)-2:])
			}
			pt, err := dec.Decrypt(append([]byte(nil), prefix...), ct, tt.codec)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pt, append(prefix, frame...)) {
				t.Fatal("decrypted frame differs")
			}
		})
	}
}

func TestEmptyFramePassesThrough(t *testing.T) {
	enc, _, dec, _ := pair(t, 0)
	dst := []byte{1, 2}
	for _, c := range []Codec{CodecOpus, CodecVP8, CodecVP9} {
		out, err := enc.Encrypt(dst, nil, c, 1, 2)
		if err != nil || !bytes.Equal(out, dst) {
			t.Errorf("%v: Encrypt(empty) = %x, %v", c, out, err)
		}
		out, err = dec.Decrypt(dst, []byte{}, c)
		if err != nil || !bytes.Equal(out, dst) {
			t.Errorf("%v: Decrypt(empty) = %x, %v", c, out, err)
		}
	}
}

func TestIV(t *testing.T) {
	enc, _, _, _ := pair(t, 0)
	enc.startCount = func() uint64 { return 10 }
	iv := func(ssrc, ts uint32) (uint32, uint32, uint32) {
		t.Helper()
		ct, err := enc.Encrypt(nil, []byte{0x78, 1, 2, 3}, CodecOpus, ssrc, ts)
		if err != nil {
			t.Fatal(err)
		}
		v := ct[len(ct)-trailerLen:]
		return binary.BigEndian.Uint32(v), binary.BigEndian.Uint32(v[4:]), binary.BigEndian.Uint32(v[8:])
	}
	// ssrc ‖ timestamp ‖ timestamp − (sendCount mod 0xffff), wrapping.
	want := [][3]uint32{
		{0xa1b2c3d4, 5, 0xfffffffb}, // 5 − 10 wraps
		{0xa1b2c3d4, 965, 965 - 11},
		{0x01020304, 5, 0xfffffffb}, // a new SSRC starts its own count
		{0xa1b2c3d4, 1925, 1925 - 12},
	}
	for i, w := range want {
		s, ts, c := iv(w[0], w[1])
		if s != w[0] || ts != w[1] || c != w[2] {
			t.Errorf("frame %d: IV %08x %08x %08x, want %08x %08x %08x", i, s, ts, c, w[0], w[1], w[2])
		}
	}
	// The count is taken mod 0xffff.
	enc.sendCounts[7] = 0xffff + 3
	if _, _, c := iv(7, 100); c != 97 {
		t.Errorf("count 0x10002: third IV word %d, want 97", c)
	}
}

func TestSendCountStartIsRandomBelow0xffff(t *testing.T) {
	enc := NewEncryptor(NewKeyRing())
	seen := map[uint64]bool{}
	for range 1000 {
		c := enc.startCount()
		if c >= 0xffff {
			t.Fatalf("start count %d ≥ 0xffff", c)
		}
		seen[c] = true
	}
	if len(seen) < 900 {
		t.Errorf("only %d distinct start counts in 1000", len(seen))
	}
}

func TestKeyIndexes(t *testing.T) {
	tx, rx := NewKeyRing(), NewKeyRing()
	enc, dec := NewEncryptor(tx), NewDecryptor(rx)
	frame := testFrame(1, CodecOpus, false, 60)

	if _, err := enc.Encrypt(nil, frame, CodecOpus, 1, 1); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Encrypt without a key: %v, want ErrNoKey", err)
	}
	for i := range 256 {
		if err := tx.SetKey(uint8(i), testKey(byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	frames := make([][]byte, 256)
	for i := range 256 {
		tx.SetCurrentIndex(uint8(i))
		ct, err := enc.Encrypt(nil, frame, CodecOpus, 1, uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		if ct[len(ct)-1] != byte(i) {
			t.Fatalf("key index byte %d, want %d", ct[len(ct)-1], i)
		}
		frames[i] = ct
	}
	if _, err := dec.Decrypt(nil, frames[3], CodecOpus); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Decrypt without a key: %v, want ErrNoKey", err)
	}
	// Keys arrive; every older frame still decrypts with its own index.
	for i := range 256 {
		if err := rx.SetKey(uint8(i), testKey(byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i, ct := range frames {
		pt, err := dec.Decrypt(nil, ct, CodecOpus)
		if err != nil || !bytes.Equal(pt, frame) {
			t.Fatalf("index %d: %v", i, err)
		}
	}
	rx.RemoveKey(9)
	if rx.HasKey(9) || !rx.HasKey(10) {
		t.Error("RemoveKey/HasKey")
	}
	if _, err := dec.Decrypt(nil, frames[9], CodecOpus); !errors.Is(err, ErrNoKey) {
		t.Errorf("Decrypt after RemoveKey: %v, want ErrNoKey", err)
	}
	if err := rx.SetKey(0, nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("SetKey(empty): %v, want ErrInvalidKey", err)
	}
}

func TestUnsupportedCodec(t *testing.T) {
	enc, _, dec, _ := pair(t, 0)
	for _, c := range []Codec{CodecUnknown, Codec(99)} {
		if _, err := enc.Encrypt(nil, []byte{1, 2, 3}, c, 1, 1); !errors.Is(err, ErrUnsupportedCodec) {
			t.Errorf("Encrypt(%v): %v", c, err)
		}
		if _, err := dec.Decrypt(nil, make([]byte, 64), c); !errors.Is(err, ErrUnsupportedCodec) {
			t.Errorf("Decrypt(%v): %v", c, err)
		}
		if c.String() != "unknown" {
			t.Errorf("String() = %q", c.String())
		}
	}
}

func TestEncryptTooShortForHeader(t *testing.T) {
	enc, _, _, _ := pair(t, 0)
	for _, f := range [][]byte{{0x00}, {0x00, 1, 2, 3, 4, 5, 6, 7, 8}, {0x01, 2}} {
		dst := []byte{9}
		out, err := enc.Encrypt(dst, f, CodecVP8, 1, 1)
		if !errors.Is(err, ErrMalformed) || !bytes.Equal(out, dst) {
			t.Errorf("Encrypt(%x) = %x, %v; want dst, ErrMalformed", f, out, err)
		}
	}
}

func TestRatchet(t *testing.T) {
	frame := testFrame(3, CodecVP8, false, 500)
	for _, steps := range []int{1, 2, 5, 10} {
		enc, tx, dec, rx := pair(t, 4)
		want, err := RatchetMaterial(testKey(1), steps)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		for range steps {
			if got, err = tx.Ratchet(4); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%d steps: Ratchet material %x, RatchetMaterial %x", steps, got, want)
		}
		ct, err := enc.Encrypt(nil, frame, CodecVP8, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := dec.Decrypt(nil, ct, CodecVP8)
		if err != nil || !bytes.Equal(pt, frame) {
			t.Fatalf("%d steps: Decrypt: %v", steps, err)
		}
		// The receiver keeps the ratcheted key.
		if m := rx.slots[4].Load().material; !bytes.Equal(m, want) {
			t.Errorf("%d steps: receiver kept material %x, want %x", steps, m, want)
		}
	}
}

func TestRatchetBeyondWindow(t *testing.T) {
	frame := testFrame(4, CodecOpus, false, 80)
	tests := []struct {
		window, steps int
		ok            bool
	}{
		{10, 11, false},
		{0, 1, false},
		{3, 3, true},
		{3, 4, false},
	}
	for _, tt := range tests {
		enc, tx, dec, rx := pair(t, 0, WithRatchetWindow(tt.window))
		for range tt.steps {
			if _, err := tx.Ratchet(0); err != nil {
				t.Fatal(err)
			}
		}
		ct, err := enc.Encrypt(nil, frame, CodecOpus, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		before := rx.slots[0].Load()
		_, err = dec.Decrypt(nil, ct, CodecOpus)
		if tt.ok != (err == nil) {
			t.Errorf("window %d, %d steps: Decrypt: %v", tt.window, tt.steps, err)
		}
		if !tt.ok {
			if !errors.Is(err, ErrDecrypt) {
				t.Errorf("window %d, %d steps: %v, want ErrDecrypt", tt.window, tt.steps, err)
			}
			if rx.slots[0].Load() != before {
				t.Errorf("window %d, %d steps: a failed frame changed the key", tt.window, tt.steps)
			}
		}
	}
	if _, err := NewKeyRing().Ratchet(3); !errors.Is(err, ErrNoKey) {
		t.Errorf("Ratchet of an empty slot: %v", err)
	}
}

// TestTamper: every single-bit change anywhere in an encrypted frame (clear
// header, ciphertext, tag, IV, IV length, key index), truncations and
// extensions are refused with a sentinel error, and dst comes back as given.
func TestTamper(t *testing.T) {
	tests := []struct {
		name     string
		codec    Codec
		keyframe bool
		size     int
	}{
		{"vp8 key", CodecVP8, true, 40},
		{"vp8 delta", CodecVP8, false, 30},
		{"opus", CodecOpus, false, 20},
		{"vp9", CodecVP9, false, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, _, dec, rx := pair(t, 0)
			// Another key at index 1, so a changed index also meets a key.
			if err := rx.SetKey(1, testKey(9)); err != nil {
				t.Fatal(err)
			}
			frame := testFrame(5, tt.codec, tt.keyframe, tt.size)
			ct, err := enc.Encrypt(nil, frame, tt.codec, 1, 1)
			if err != nil {
				t.Fatal(err)
			}
			check := func(what string, bad []byte) {
				t.Helper()
				dst := []byte{7, 7}
				out, err := dec.Decrypt(dst, bad, tt.codec)
				if err == nil {
					t.Fatalf("%s: decrypted", what)
				}
				if !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrNoKey) && !errors.Is(err, ErrMalformed) {
					t.Fatalf("%s: error %v is no sentinel", what, err)
				}
				if !bytes.Equal(out, dst) {
					t.Fatalf("%s: dst changed to %x", what, out)
				}
			}
			for i := range ct {
				for bit := range 8 {
					bad := bytes.Clone(ct)
					bad[i] ^= 1 << bit
					check("flip byte "+strconv.Itoa(i), bad)
				}
			}
			for n := 1; n < len(ct); n++ {
				check("truncated by "+strconv.Itoa(n), ct[:len(ct)-n])
				check("first bytes cut by "+strconv.Itoa(n), ct[n:])
			}
			check("extended", append(bytes.Clone(ct), 0))
			check("key index 2 (no key)", append(bytes.Clone(ct[:len(ct)-1]), 2))
			check("key index 1 (other key)", append(bytes.Clone(ct[:len(ct)-1]), 1))
			if _, err := dec.Decrypt(nil, ct, tt.codec); err != nil {
				t.Fatalf("the untouched frame no longer decrypts: %v", err)
			}
		})
	}
}

func TestGarbage(t *testing.T) {
	_, _, dec, _ := pair(t, 0)
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 200 {
		g := make([]byte, n)
		for i := range g {
			g[i] = byte(r.Uint32())
		}
		if n >= 2 && n%3 == 0 {
			g[n-2], g[n-1] = 12, 0 // a plausible trailer naming the key
		}
		for _, c := range []Codec{CodecOpus, CodecVP8, CodecVP9} {
			out, err := dec.Decrypt(nil, g, c)
			if n == 0 {
				if err != nil || len(out) != 0 {
					t.Fatalf("empty: %x, %v", out, err)
				}
				continue
			}
			if err == nil {
				t.Fatalf("garbage of %d bytes decrypted as %v", n, c)
			}
		}
	}
}

func TestTooShort(t *testing.T) {
	_, _, dec, _ := pair(t, 0)
	tests := []struct {
		codec Codec
		first byte
		min   int // clear header + tag + IV + 2
	}{
		{CodecVP8, 0x00, 10 + 30},
		{CodecVP8, 0x01, 3 + 30},
		{CodecOpus, 0x78, 1 + 30},
		{CodecVP9, 0x00, 30},
	}
	for _, tt := range tests {
		for n := 1; n < tt.min; n++ {
			f := make([]byte, n)
			f[0] = tt.first
			if n >= 2 {
				f[n-2] = 12
			}
			if _, err := dec.Decrypt(nil, f, tt.codec); !errors.Is(err, ErrMalformed) {
				t.Errorf("%v %d bytes: %v, want ErrMalformed", tt.codec, n, err)
			}
		}
	}
}

func TestSIF(t *testing.T) {
	enc, _, dec, _ := pair(t, 0)
	trailer := []byte("0123456789abcdef0123456789abcdef")
	vp8 := append(bytes.Clone(sifVP8KeyFrame8x8), trailer...)
	opus := append(bytes.Clone(sifOpusSilence), trailer...)

	// Without the trailer set, a SIF frame is just a frame that fails.
	if _, err := dec.Decrypt(nil, vp8, CodecVP8); err == nil {
		t.Fatal("SIF frame accepted with no trailer set")
	}
	dec.SetSIFTrailer(trailer)
	tests := []struct {
		name  string
		frame []byte
		codec Codec
		want  []byte
	}{
		{"vp8", vp8, CodecVP8, sifVP8KeyFrame8x8},
		{"opus", opus, CodecOpus, sifOpusSilence},
		{"vp8 payload on opus", vp8, CodecOpus, nil},
		{"vp9", append([]byte{1, 2, 3}, trailer...), CodecVP9, nil},
		{"unknown payload", append(testFrame(1, CodecVP8, true, 40), trailer...), CodecVP8, nil},
		{"trailer only", trailer, CodecVP8, nil},
	}
	for _, tt := range tests {
		out, err := dec.Decrypt([]byte{5}, tt.frame, tt.codec)
		if tt.want == nil {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: %x, %v; want ErrMalformed", tt.name, out, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(out, append([]byte{5}, tt.want...)) {
			t.Errorf("%s: %x, %v", tt.name, out, err)
		}
	}
	// Encrypted frames still decrypt with the trailer set.
	f := testFrame(2, CodecVP8, false, 100)
	ct, _ := enc.Encrypt(nil, f, CodecVP8, 1, 1)
	if pt, err := dec.Decrypt(nil, ct, CodecVP8); err != nil || !bytes.Equal(pt, f) {
		t.Errorf("encrypted frame with SIF trailer set: %v", err)
	}
	dec.SetSIFTrailer(nil)
	if _, err := dec.Decrypt(nil, vp8, CodecVP8); err == nil {
		t.Error("SIF frame accepted after the trailer was cleared")
	}
}

// TestSIFPayloads checks the injected payloads against the SHA-256 hashes
// livekit-client compares them by (sifPayload.ts CryptoHashes).
func TestSIFPayloads(t *testing.T) {
	for _, tt := range []struct {
		name    string
		payload []byte
		hash    string
	}{
		{"VP8KeyFrame8x8", sifVP8KeyFrame8x8, "ef0161653d8b2b23aad46624b420af1d03ce48950e9fc85718028f91b50f9219"},
		{"OpusSilenceFrame", sifOpusSilence, "aad8d31fc56b2802ca500e58c2fb9d0b29ad71bb7cb52cd6530251eade188988"},
	} {
		if h := sha256.Sum256(tt.payload); hex.EncodeToString(h[:]) != tt.hash {
			t.Errorf("%s: sha256 %x, want %s", tt.name, h, tt.hash)
		}
	}
}

// The adapters satisfy server-sdk-go/v2's e2ee/types interfaces, which
// are these (checked against v2.19.0 without importing it).
var (
	_ interface {
		EncryptFrame(payload []byte) ([]byte, error)
	} = (*FrameEncryptor)(nil)
	_ interface {
		DecryptFrame(payload []byte) ([]byte, error)
	} = (*FrameDecryptor)(nil)
)

func TestAdapters(t *testing.T) {
	enc, _, dec, _ := pair(t, 3)
	fe := NewFrameEncryptor(enc, CodecVP8, 0x11223344)
	fd := NewFrameDecryptor(dec, CodecVP8)
	var last uint32
	for i := range 5 {
		f := testFrame(uint64(i), CodecVP8, i == 0, 1000)
		ct, err := fe.EncryptFrame(f)
		if err != nil {
			t.Fatal(err)
		}
		iv := ct[len(ct)-trailerLen:]
		if binary.BigEndian.Uint32(iv) != 0x11223344 {
			t.Errorf("IV SSRC %x", iv[:4])
		}
		if ts := binary.BigEndian.Uint32(iv[4:]); i > 0 && ts != last+1 {
			t.Errorf("frame %d: IV timestamp %d after %d", i, ts, last)
		} else {
			last = ts
		}
		pt, err := fd.DecryptFrame(ct)
		if err != nil || !bytes.Equal(pt, f) {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if out, err := fe.EncryptFrame(nil); err != nil || len(out) != 0 {
		t.Errorf("EncryptFrame(empty) = %x, %v", out, err)
	}
	if out, err := fd.DecryptFrame([]byte{1, 2, 3}); err == nil || out != nil {
		t.Errorf("DecryptFrame(garbage) = %x, %v", out, err)
	}
	if out, err := NewFrameEncryptor(NewEncryptor(NewKeyRing()), CodecOpus, 1).EncryptFrame([]byte{1}); !errors.Is(err, ErrNoKey) || out != nil {
		t.Errorf("EncryptFrame without key = %x, %v", out, err)
	}
}

// TestConcurrent runs encryption, decryption, key changes and ratchets of
// one participant at once; go test -race checks the ring's sharing.
func TestConcurrent(t *testing.T) {
	enc, tx, dec, rx := pair(t, 0)
	if err := tx.SetKey(1, testKey(5)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codec := []Codec{CodecVP8, CodecOpus}[g%2]
			var ct, pt []byte
			for i := range 300 {
				f := testFrame(uint64(i), codec, i%10 == 0, 200)
				var err error
				ct, err = enc.Encrypt(ct[:0], f, codec, uint32(g), uint32(i))
				if err != nil {
					t.Error(err)
					return
				}
				pt, err = dec.Decrypt(pt[:0], ct, codec)
				if err == nil && !bytes.Equal(pt, f) {
					t.Error("wrong plaintext")
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 100 {
			tx.SetCurrentIndex(uint8(i % 2))
			_ = rx.SetKey(uint8(i%2), testKey(byte(1+4*(i%2))))
			if i%10 == 0 {
				_, _ = rx.Ratchet(0)
			}
		}
	}()
	wg.Wait()
}
