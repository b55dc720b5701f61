package backend

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/zalando/go-keyring"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/matrixclient"
	"github.com/mxcall/mxcall/media"
)

// closer counts its Close calls.
type closer struct {
	mu sync.Mutex
	n  int
}

func (c *closer) Close() error {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return nil
}

func (c *closer) closes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// A second track of the same kind (pion replaces the receiver after the
// peer holds and resumes) closes the sinks and speaker it replaces; what
// arrives after the call's media is released is closed at once; close is
// idempotent.
func TestCallMediaClosesWhatItReplaces(t *testing.T) {
	cm := newCallMedia()
	v1, v2, a1, p1, a2, p2 := &closer{}, &closer{}, &closer{}, &closer{}, &closer{}, &closer{}
	var wg sync.WaitGroup
	wg.Add(2) // concurrently, as two track goroutines would (-race)
	go func() { defer wg.Done(); cm.setVideo(v1) }()
	go func() { defer wg.Done(); cm.setAudio(a1, p1) }()
	wg.Wait()
	if _, ok := cm.setVideo(v2); !ok {
		t.Fatal("setVideo refused before close")
	}
	cm.setAudio(a2, p2)
	if v1.closes() != 1 || a1.closes() != 1 || p1.closes() != 1 {
		t.Fatalf("replaced sinks not closed: video %d audio %d player %d", v1.closes(), a1.closes(), p1.closes())
	}
	if v2.closes() != 0 || a2.closes() != 0 || p2.closes() != 0 {
		t.Fatal("current sinks closed early")
	}
	cm.close()
	cm.close()
	if v2.closes() != 1 || a2.closes() != 1 || p2.closes() != 1 {
		t.Fatalf("close: video %d audio %d player %d", v2.closes(), a2.closes(), p2.closes())
	}
	late, lateA, lateP := &closer{}, &closer{}, &closer{}
	if _, ok := cm.setVideo(late); ok || late.closes() != 1 {
		t.Fatalf("video set after close: ok %v, closes %d", ok, late.closes())
	}
	if ok := cm.setAudio(lateA, lateP); ok || lateA.closes() != 1 || lateP.closes() != 1 {
		t.Fatalf("audio set after close: ok %v, closes %d %d", ok, lateA.closes(), lateP.closes())
	}
}

// The UI may hold a call's remote FrameSource after the call ended (the
// ended call stays on screen); once the call's media is released, it must
// not keep the decoder's frame slot, and its pictures, alive.
func TestCallMediaCloseDropsFrameSlot(t *testing.T) {
	cm := newCallMedia()
	slot := media.NewFrameSlot()
	cm.frames.set(slot)
	held := cm.frames // what the UI holds
	w := weak.Make(slot)
	cm.close()
	runtime.GC()
	if w.Value() != nil {
		t.Fatal("the frame slot of a released call is still reachable through its FrameSource")
	}
	if _, _, ok := held.FrameInto(nil, 0); ok {
		t.Fatal("a released call's FrameSource still delivers frames")
	}
}

type nopSignaller struct{}

func (nopSignaller) SendCallEvent(context.Context, string, string, any) error { return nil }

// patternBackend is a logged-out Backend whose media are the test pattern
// and a tone.
func patternBackend(t *testing.T) *Backend {
	t.Helper()
	keyring.MockInit()
	b, err := New(Config{Keyring: matrixclient.NewMemoryKeyring(),
		MediaOptions: []media.Option{media.WithTestPattern(), media.WithTone(440)}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An Answer that fails closes the media source it opened (no camera left
// on) and keeps no media record for a call that is not live.
func TestAnswerFailureReleasesSource(t *testing.T) {
	defer checkRoutines(t)()
	b := patternBackend(t)
	eng, err := callengine.New("@me:hs", nopSignaller{})
	if err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	b.eng = eng
	b.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Answer(ctx, "no-such-call", true); !errors.Is(err, callengine.ErrNoSuchCall) {
		t.Fatalf("Answer = %v, want ErrNoSuchCall", err)
	}
	b.mu.Lock()
	n := len(b.calls)
	b.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d media records kept for a call that does not exist", n)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// A call's video source runs its camera from the start, before its track
// is bound to a connected peer: the self-view shows while the call rings,
// and the encoder is warm when media can flow.
func TestCallSourceShowsSelfViewBeforeConnect(t *testing.T) {
	defer checkRoutines(t)()
	b := patternBackend(t)
	defer func() { _ = b.Close() }()
	src, err := b.newSource(true)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = src.Close() }()
	view := slotSource(src.Preview())
	deadline := time.Now().Add(10 * time.Second) // a hang guard, not a timing check
	for {
		if _, _, ok := view.FrameInto(nil, 0); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no self-view frame from a call's source before its track was bound")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
