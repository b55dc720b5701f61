package media

import (
	"testing"
	"time"

	"github.com/pion/transport/v5/test"

	"github.com/mxcall/mxcall/media/framecrypt"
)

// TestLoopbackEncryptedMedia: with encryption on, video and audio go
// through a real PeerConnection encrypted in LiveKit's frame format and
// decode on the other side with the same key; after the sender switches to
// a key the receiver lacks, frames are dropped and counted (never decoded
// as garbage); a wrong key at that index is counted as undecryptable; the
// right key brings the picture back.
func TestLoopbackEncryptedMedia(t *testing.T) {
	defer test.CheckRoutines(t)()
	defer test.TimeOut(60 * time.Second).Stop()

	key0, key1 := []byte("0123456789abcdef"), []byte("fedcba9876543210")
	txRing, rxRing := framecrypt.NewKeyRing(), framecrypt.NewKeyRing()
	if err := txRing.SetKey(0, key0); err != nil {
		t.Fatal(err)
	}
	if err := rxRing.SetKey(0, key0); err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(WithTestPattern(), WithTone(440), WithStreamID("e2ee"))
	if err != nil {
		t.Fatal(err)
	}
	src.SetEncryption(framecrypt.NewEncryptor(txRing))
	p := newPairNACK(t, src, nil, false, WithDecryptor(framecrypt.NewDecryptor(rxRing)))
	defer p.close(t)
	vs := waitSink(t, p.video)
	as := waitSink(t, p.audio)
	defer vs.Close()
	defer as.Close()

	slot := vs.Frames()
	waitFor(t, "decrypted frames", func() bool { return slot.Frames() >= 10 })
	img, _ := slot.Acquire()
	checkColours(t, img)
	waitFor(t, "decrypted audio", func() bool { n, _ := as.Packets(); return n >= 50 })
	if st := vs.Stats(); st.NoKey != 0 || st.Undecryptable != 0 || st.DecodeErrors != 0 {
		t.Fatalf("stats with the right key: %+v", st)
	}

	// The sender moves to key 1, which the receiver does not have.
	if err := txRing.SetKey(1, key1); err != nil {
		t.Fatal(err)
	}
	txRing.SetCurrentIndex(1)
	waitFor(t, "frames without their key", func() bool { return vs.Stats().NoKey >= 5 })
	waitFor(t, "audio without its key", func() bool { return as.Undecryptable() >= 20 })
	frozen := slot.Frames()
	time.Sleep(300 * time.Millisecond)
	if got := slot.Frames(); got > frozen+1 { // one frame may have been in flight
		t.Fatalf("%d frames decoded without their key", got-frozen)
	}

	// A wrong key at index 1: counted as undecryptable, still nothing decoded.
	if err := rxRing.SetKey(1, key0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "frames under a wrong key", func() bool { return vs.Stats().Undecryptable >= 5 })
	if got := slot.Frames(); got > frozen+1 {
		t.Fatalf("%d frames decoded under a wrong key", got-frozen)
	}

	// The right key: the picture comes back (the sink asks for a key frame).
	if err := rxRing.SetKey(1, key1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "frames after the key arrived", func() bool { return slot.Frames() >= frozen+10 })
	img, _ = slot.Acquire()
	checkColours(t, img)
	t.Logf("video stats %+v, audio undecryptable %d", vs.Stats(), as.Undecryptable())
}

// TestEncryptionOnWithoutKeySendsNothing: a source told to encrypt whose
// key ring is empty sends no frame at all (none in the clear).
func TestEncryptionOnWithoutKeySendsNothing(t *testing.T) {
	c := newTrackCrypt(framecrypt.CodecVP8, 90000)
	frame := []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0, 0, 0, 0, 1, 2, 3}
	if out, ok := c.seal(frame, time.Second/30); !ok || &out[0] != &frame[0] {
		t.Fatal("no encryptor: the frame must pass as is")
	}
	c.enc.Store(framecrypt.NewEncryptor(framecrypt.NewKeyRing()))
	if out, ok := c.seal(frame, time.Second/30); ok || out != nil {
		t.Fatalf("encryption on without a key: sent %x", out)
	}
}
