package backend

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/matrixrtc"
	"github.com/mxcall/mxcall/media/framecrypt"
)

// fakeScreen is a ScreenTrack that records what is done to it.
type fakeScreen struct {
	track webrtc.TrackLocal

	mu        sync.Mutex
	enc       *framecrypt.Encryptor
	keyframes int
	closes    int
}

func newFakeScreen(t *testing.T) *fakeScreen {
	t.Helper()
	tr, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "screen")
	if err != nil {
		t.Fatal(err)
	}
	return &fakeScreen{track: tr}
}

func (s *fakeScreen) Video() webrtc.TrackLocal { return s.track }
func (s *fakeScreen) SetEncryption(enc *framecrypt.Encryptor) {
	s.mu.Lock()
	s.enc = enc
	s.mu.Unlock()
}
func (s *fakeScreen) RequestKeyframe() { s.mu.Lock(); s.keyframes++; s.mu.Unlock() }
func (s *fakeScreen) Close() error     { s.mu.Lock(); s.closes++; s.mu.Unlock(); return nil }

func (s *fakeScreen) state() (enc *framecrypt.Encryptor, keyframes, closes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.enc, s.keyframes, s.closes
}

// screenHarness is an rtcHarness whose screen capture hands out
// fakeScreens (opened lists them, with the source IDs asked for).
type screenHarness struct {
	*rtcHarness
	mu      sync.Mutex
	opened  []*fakeScreen
	sources []string
	openErr error
}

func newScreenHarness(t *testing.T, tweak func(*rtcHarness)) *screenHarness {
	t.Helper()
	sh := &screenHarness{}
	sh.rtcHarness = newRTCHarness(t, time.Minute, tweak)
	sh.r.cfg.newScreen = func(_ context.Context, id string) (ScreenTrack, error) {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		if sh.openErr != nil {
			return nil, sh.openErr
		}
		s := newFakeScreen(t)
		sh.opened = append(sh.opened, s)
		sh.sources = append(sh.sources, id)
		return s, nil
	}
	return sh
}

func (sh *screenHarness) screen(i int) *fakeScreen {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if i >= len(sh.opened) {
		sh.t.Fatalf("screen %d never opened (%d)", i, len(sh.opened))
	}
	return sh.opened[i]
}

// A MatrixRTC call shares a screen through its session: start publishes
// the capture's track (asking for a key frame), stop unpublishes and
// closes it, and start/stop/start works; a second start while sharing is
// refused, and so is sharing in a call not connected yet.
func TestRTCScreenshare(t *testing.T) {
	defer checkRoutines(t)()
	sh := newScreenHarness(t, nil)
	id, err := sh.r.join(ctxT(t), "!group:hs", "", true)
	if err != nil {
		t.Fatal(err)
	}
	sh.expect(id, callengine.StateGathering)
	sh.expect(id, callengine.StateConnected)
	sess := sh.session(0)
	for round := 0; round < 2; round++ {
		if err := sh.r.startScreenshare(ctxT(t), id, "screen:0"); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		scr := sh.screen(2 * round) // each round's second start opens one more
		if sess.sharing() != scr.track {
			t.Fatalf("round %d: the session publishes %v, not the capture's track", round, sess.sharing())
		}
		if enc, keyframes, closes := scr.state(); enc != nil || keyframes != 1 || closes != 0 {
			t.Errorf("round %d: plain call's share: encryptor %v, %d key frames, closed %d times", round, enc, keyframes, closes)
		}
		if err := sh.r.startScreenshare(ctxT(t), id, "screen:0"); !errors.Is(err, callengine.ErrWrongState) {
			t.Errorf("round %d: a second share: %v, want ErrWrongState", round, err)
		}
		if err := sh.r.stopScreenshare(ctxT(t), id); err != nil {
			t.Fatal(err)
		}
		if sess.sharing() != nil {
			t.Fatalf("round %d: still published after stop", round)
		}
		if _, _, closes := scr.state(); closes != 1 {
			t.Errorf("round %d: capture closed %d times after stop", round, closes)
		}
		if err := sh.r.stopScreenshare(ctxT(t), id); err != nil {
			t.Errorf("stop when not sharing: %v", err)
		}
	}
	// The refused second starts opened a capture each, closed at once.
	for i := 1; i < 4; i += 2 {
		if _, _, closes := sh.screen(i).state(); closes != 1 {
			t.Errorf("refused capture %d closed %d times", i, closes)
		}
	}
	sh.r.close()
	sh.expectEnd(id, callengine.PartyLocal, callengine.ReasonUserHangup)
	sh.released(id)
}

// Hanging up while sharing closes the capture with the call; a capture
// that cannot open fails the share; a ringing call cannot share.
func TestRTCScreenshareEnds(t *testing.T) {
	defer checkRoutines(t)()
	sh := newScreenHarness(t, nil)
	id, err := sh.r.join(ctxT(t), "!group:hs", "", true)
	if err != nil {
		t.Fatal(err)
	}
	sh.expect(id, callengine.StateGathering)
	sh.expect(id, callengine.StateConnected)
	if err := sh.r.startScreenshare(ctxT(t), id, "window:42"); err != nil {
		t.Fatal(err)
	}
	if err := sh.r.hangup(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
	sh.expectEnd(id, callengine.PartyLocal, callengine.ReasonUserHangup)
	sh.released(id)
	if _, _, closes := sh.screen(0).state(); closes != 1 {
		t.Errorf("capture closed %d times after hangup", closes)
	}
	if sh.sources[0] != "window:42" {
		t.Errorf("opened %q", sh.sources[0])
	}
	if err := sh.r.startScreenshare(ctxT(t), id, "screen:0"); !errors.Is(err, callengine.ErrNoSuchCall) {
		t.Errorf("share in an ended call: %v", err)
	}

	ring := matrixrtc.Ring{RoomID: "!dm:hs", EventID: "$ring", Sender: "@bob:hs", Video: true}
	sh.r.onRing(ring)
	ci := sh.next("")
	if err := sh.r.startScreenshare(ctxT(t), ci.ID, "screen:0"); !errors.Is(err, callengine.ErrWrongState) {
		t.Errorf("share in a ringing call: %v, want ErrWrongState", err)
	}
	if _, _, closes := sh.screen(1).state(); closes != 1 {
		t.Errorf("the refused share's capture closed %d times", closes)
	}
	sh.mu.Lock()
	sh.openErr = errors.New("no X11 display")
	sh.mu.Unlock()
	id2, err := sh.r.join(ctxT(t), "!group2:hs", "", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.r.startScreenshare(ctxT(t), id2, "screen:0"); err == nil || !strings.Contains(err.Error(), "no X11 display") {
		t.Errorf("share without a capture: %v", err)
	}
	sh.r.close()
}

// In an encrypted call the share is encrypted with the camera's key (the
// call's encryptor).
func TestRTCScreenshareEncrypted(t *testing.T) {
	defer checkRoutines(t)()
	sh := newScreenHarness(t, func(h *rtcHarness) { h.encrypted, h.toDevice = true, &keySender{sent: make(chan string, 64)} })
	id, err := sh.r.join(ctxT(t), "!group:hs", "", true)
	if err != nil {
		t.Fatal(err)
	}
	sh.expect(id, callengine.StateGathering)
	sh.expect(id, callengine.StateConnected)
	if err := sh.r.startScreenshare(ctxT(t), id, "screen:0"); err != nil {
		t.Fatal(err)
	}
	cr := sh.r.get(id).crypto.Load()
	if enc, _, _ := sh.screen(0).state(); cr == nil || enc != cr.enc {
		t.Errorf("share encrypted with %p, want the call's encryptor", enc)
	}
	sh.r.close()
}

// nopCloser stands for a video sink.
type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// A participant's screen share is a tile of its own, after the people,
// marked Screen and named after the sharer; it goes when the share's
// media does.
func TestRTCScreenshareTile(t *testing.T) {
	defer checkRoutines(t)()
	h := newRTCHarness(t, time.Minute, nil)
	id, err := h.r.join(ctxT(t), "!group:hs", "", false)
	if err != nil {
		t.Fatal(err)
	}
	c := h.r.get(id)
	p := c.media.peer(screenKey("@carol:hs:CDEV")) // carol's share arrived first
	p.setVideo(nopCloser{})
	if ps := c.participants(); len(ps) != 1 {
		t.Fatalf("a share before LiveKit named its sharer: tiles %+v", ps)
	}
	c.setParticipants([]matrixrtc.Participant{{Identity: "@carol:hs:CDEV", UserID: "@carol:hs", Name: "Carol", Screensharing: true}})
	ps := c.participants()
	if len(ps) != 3 || ps[1].Screen || !ps[2].Screen || ps[2].Name != "Carol" || ps[2].Video == nil || ps[2].ID == ps[1].ID {
		t.Fatalf("tiles %+v", ps)
	}
	c.media.dropPeer(screenKey("@carol:hs:CDEV"), p)
	if ps := c.participants(); len(ps) != 2 || ps[1].Screen {
		t.Fatalf("tiles after the share ended: %+v", ps)
	}
	h.r.close()
}
