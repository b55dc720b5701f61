package backend

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/zalando/go-keyring"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/matrixclient"
	"github.com/mxcall/mxcall/media"
)

// screenCloser is a ScreenSource that counts its Close calls.
type screenCloser struct{ closer }

func (*screenCloser) Video() webrtc.TrackLocal { return nil }

// The share's source is closed when replaced, when the call's media is
// released (with the peer's screen sink, and the screen slot emptied), and
// at once when set after that; a screen sink ending empties the slot only
// while it is the current one.
func TestCallMediaScreenLifecycle(t *testing.T) {
	cm := newCallMedia()
	s1, s2 := &screenCloser{}, &screenCloser{}
	cm.setScreen(s1)
	cm.setScreen(s1)
	if s1.closes() != 0 {
		t.Fatal("setting the same source again closed it")
	}
	cm.setScreen(s2)
	if s1.closes() != 1 || s2.closes() != 0 {
		t.Fatalf("replaced source closes %d, current %d", s1.closes(), s2.closes())
	}
	cm.setScreen(nil) // StopScreenshare
	if s2.closes() != 1 {
		t.Fatal("stopping did not close the source")
	}

	v1, v2 := &closer{}, &closer{}
	cm.setScreenVideo(v1)
	cm.screenFrames.set(media.NewFrameSlot())
	cm.setScreenVideo(v2) // the peer shared again
	cm.dropScreenVideo(v1)
	if v1.closes() != 1 || v2.closes() != 0 {
		t.Fatalf("old screen sink closes %d, new %d", v1.closes(), v2.closes())
	}
	if cm.screenFrames.slot == nil {
		t.Fatal("the end of an old share emptied the new share's slot")
	}
	cm.dropScreenVideo(v2)
	if v2.closes() != 1 || cm.screenFrames.slot != nil {
		t.Fatalf("ended share: sink closes %d, slot %v", v2.closes(), cm.screenFrames.slot)
	}

	s3, v3 := &screenCloser{}, &closer{}
	cm.setScreen(s3)
	cm.setScreenVideo(v3)
	cm.screenFrames.set(media.NewFrameSlot())
	cm.close()
	if s3.closes() != 1 || v3.closes() != 1 || cm.screenFrames.slot != nil {
		t.Fatalf("close: source %d sink %d slot %v", s3.closes(), v3.closes(), cm.screenFrames.slot)
	}
	late, lateV := &screenCloser{}, &closer{}
	cm.setScreen(late)
	if ok := cm.setScreenVideo(lateV); ok || late.closes() != 1 || lateV.closes() != 1 {
		t.Fatalf("after close: source closes %d, sink ok %v closes %d", late.closes(), ok, lateV.closes())
	}
}

// ShareScreen owns the source it is given: it closes it when the
// share cannot start. RemoteScreen is nil without a call. A stop tells
// Config.ShareReleased.
func TestStartScreenshareFailureClosesSource(t *testing.T) {
	defer checkRoutines(t)()
	keyring.MockInit()
	var released atomic.Int32
	b, err := New(Config{Keyring: matrixclient.NewMemoryKeyring(), ShareReleased: func() { released.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	src := &screenCloser{}
	if err := b.ShareScreen(ctx, "some-call", src); !errors.Is(err, ErrNotLoggedIn) || src.closes() != 1 {
		t.Fatalf("not logged in: %v, closes %d", err, src.closes())
	}
	eng, err := callengine.New("@me:hs", nopSignaller{})
	if err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	b.eng = eng
	b.mu.Unlock()
	src = &screenCloser{}
	if err := b.ShareScreen(ctx, "no-such-call", src); !errors.Is(err, callengine.ErrNoSuchCall) || src.closes() != 1 {
		t.Fatalf("no such call: %v, closes %d", err, src.closes())
	}
	if err := b.ShareScreen(ctx, "no-such-call", nil); !errors.Is(err, callengine.ErrInvalidArgument) {
		t.Fatalf("nil source: %v", err)
	}
	if err := b.StopScreenshare(ctx, "no-such-call"); !errors.Is(err, callengine.ErrNoSuchCall) {
		t.Fatalf("stop in no call: %v", err)
	}
	if n := released.Load(); n != 1 { // the app gives memory back after every stop
		t.Fatalf("ShareReleased called %d times after a stop, want 1", n)
	}
	if b.RemoteScreen("no-such-call") != nil {
		t.Fatal("RemoteScreen of no call")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}
