package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/matrixrtc"
	"github.com/mxcall/mxcall/media"
)

// fakeMatrix records the events sent (declines, stale leaves); state
// sends wait for hold, when set, to be closed.
type fakeMatrix struct {
	hold chan struct{}

	mu    sync.Mutex
	sent  []string // "type content"
	state []string // "room type key content"
}

func (m *fakeMatrix) SendState(_ context.Context, room, evType, key string, content any) (string, error) {
	b, _ := json.Marshal(content)
	m.mu.Lock()
	m.state = append(m.state, room+" "+evType+" "+key+" "+string(b))
	hold := m.hold
	m.mu.Unlock()
	if hold != nil {
		<-hold
	}
	return "$state", nil
}

func (m *fakeMatrix) states() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.state...)
}

func (m *fakeMatrix) SendEvent(_ context.Context, _, evType string, content any) (string, error) {
	b, _ := json.Marshal(content)
	m.mu.Lock()
	m.sent = append(m.sent, evType+" "+string(b))
	m.mu.Unlock()
	return "$sent", nil
}

func (m *fakeMatrix) RoomState(context.Context, string, string) ([]matrixrtc.StateEvent, error) {
	return nil, nil
}

func (m *fakeMatrix) OpenIDToken(context.Context) (matrixrtc.OpenIDToken, error) {
	return matrixrtc.OpenIDToken{}, nil
}
func (m *fakeMatrix) UserID() string        { return "@me:hs" }
func (m *fakeMatrix) DeviceID() string      { return "MYDEV" }
func (m *fakeMatrix) HomeserverURL() string { return "http://hs.invalid" }

func (m *fakeMatrix) events() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.sent...)
}

// fakeSession is a matrixrtc session that joins at once (or fails, or
// waits for its context when block is set) and rings with "$ring".
type fakeSession struct {
	cfg     matrixrtc.SessionConfig
	joinErr error
	block   bool

	mu       sync.Mutex
	joins    int
	rings    int
	closes   int
	shares   int
	screen   webrtc.TrackLocal
	shareErr error
	muted    map[webrtc.RTPCodecType]bool // the mutes signalled
}

func (s *fakeSession) Join(ctx context.Context) error {
	s.mu.Lock()
	s.joins++
	s.mu.Unlock()
	if s.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return s.joinErr
}

func (s *fakeSession) JoinRinging(ctx context.Context, _ matrixrtc.RingOptions) (string, error) {
	if err := s.Join(ctx); err != nil {
		return "", err
	}
	s.mu.Lock()
	s.rings++
	s.mu.Unlock()
	return "$ring", nil
}

func (s *fakeSession) PublishScreenshare(_ context.Context, tr webrtc.TrackLocal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shares++
	s.screen = tr
	return s.shareErr
}

func (s *fakeSession) UnpublishScreenshare(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.screen = nil
	return nil
}

// sharing returns the published screen track (nil: none).
func (s *fakeSession) sharing() webrtc.TrackLocal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.screen
}

func (s *fakeSession) SetMuted(kind webrtc.RTPCodecType, muted bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.muted == nil {
		s.muted = map[webrtc.RTPCodecType]bool{}
	}
	s.muted[kind] = muted
	return nil
}

// mutedState returns the mutes signalled so far.
func (s *fakeSession) mutedState() (audio, video bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.muted[webrtc.RTPCodecTypeAudio], s.muted[webrtc.RTPCodecTypeVideo]
}

func (s *fakeSession) Close() error {
	s.mu.Lock()
	s.closes++
	s.mu.Unlock()
	return nil
}

func (s *fakeSession) counts() (joins, rings, closes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.joins, s.rings, s.closes
}

// rtcHarness is an rtcCalls over fakes, with every update recorded.
type rtcHarness struct {
	t  *testing.T
	r  *rtcCalls
	mx *fakeMatrix

	joinErr   error
	block     bool
	encrypted bool
	toDevice  matrixrtc.ToDevice // media keys (nil: no media encryption)
	members   []matrixrtc.Membership

	mu       sync.Mutex
	sessions []*fakeSession
	sources  []*media.Source
	updates  chan callengine.CallInfo
}

func newRTCHarness(t *testing.T, lifetime time.Duration, tweak func(*rtcHarness)) *rtcHarness {
	t.Helper()
	h := &rtcHarness{t: t, mx: &fakeMatrix{}, updates: make(chan callengine.CallInfo, 100)}
	if tweak != nil {
		tweak(h)
	}
	h.r = newRTCCalls(rtcConfig{
		matrix: h.mx,
		newSession: func(cfg matrixrtc.SessionConfig) (rtcSession, error) {
			s := &fakeSession{cfg: cfg, joinErr: h.joinErr, block: h.block}
			h.mu.Lock()
			h.sessions = append(h.sessions, s)
			h.mu.Unlock()
			return s, nil
		},
		newSource: func(bool) (*media.Source, error) { // as Backend.newSource: always with a preview
			src, err := media.NewSource(media.WithTestPattern(), media.WithTone(440), media.WithPreview())
			if err == nil {
				h.mu.Lock()
				h.sources = append(h.sources, src)
				h.mu.Unlock()
			}
			return src, err
		},
		onUpdate:       func(ci callengine.CallInfo) { h.updates <- ci },
		onParticipants: func(string) {},
		ringLifetime:   lifetime,
		encrypted:      func(string) bool { return h.encrypted },
		toDevice:       h.toDevice,
		members:        func(string) []matrixrtc.Membership { return h.members },
	})
	t.Cleanup(h.r.close)
	return h
}

// next returns the next update of callID ("": of any call).
func (h *rtcHarness) next(callID string) callengine.CallInfo {
	h.t.Helper()
	timeout := time.NewTimer(10 * time.Second) // a hang guard, not a timing check
	defer timeout.Stop()
	for {
		select {
		case ci := <-h.updates:
			if ci.ID == callID || callID == "" {
				return ci
			}
		case <-timeout.C:
			h.t.Fatalf("no update of %s", callID)
		}
	}
}

// expect reads the next update of callID and checks its state.
func (h *rtcHarness) expect(callID string, st callengine.State) callengine.CallInfo {
	h.t.Helper()
	ci := h.next(callID)
	if ci.State != st {
		h.t.Fatalf("%s: state %v (ended %v by %v), want %v", callID, ci.State, ci.EndReason, ci.EndedBy, st)
	}
	return ci
}

// expectEnd reads updates until callID ends and checks why.
func (h *rtcHarness) expectEnd(callID string, by callengine.Party, why callengine.EndReason) {
	h.t.Helper()
	for {
		ci := h.next(callID)
		if ci.State != callengine.StateEnded {
			continue
		}
		if ci.EndedBy != by || ci.EndReason != why {
			h.t.Fatalf("%s ended %v by %v, want %v by %v", callID, ci.EndReason, ci.EndedBy, why, by)
		}
		return
	}
}

func (h *rtcHarness) session(i int) *fakeSession {
	h.mu.Lock()
	defer h.mu.Unlock()
	if i >= len(h.sessions) {
		h.t.Fatalf("session %d was never created (%d)", i, len(h.sessions))
	}
	return h.sessions[i]
}

// released waits until callID is forgotten, then checks that its session
// was closed once and every source the harness opened is closed.
func (h *rtcHarness) released(callID string) {
	h.t.Helper()
	waitFor(h.t, "the call forgotten", func() bool { return !h.r.has(callID) })
	h.mu.Lock()
	sessions, sources := h.sessions, h.sources
	h.mu.Unlock()
	for i, s := range sessions {
		if _, _, closes := s.counts(); closes != 1 {
			h.t.Errorf("session %d closed %d times", i, closes)
		}
	}
	for i, src := range sources {
		if _, err := src.SelectCamera(""); !errors.Is(err, media.ErrClosed) {
			h.t.Errorf("source %d still open (%v)", i, err)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second) // a hang guard
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func peerIn(user string) []matrixrtc.Membership {
	return []matrixrtc.Membership{{Sender: "@me:hs", DeviceID: "MYDEV"}, {Sender: user, DeviceID: "PEERDEV"}}
}

// An outgoing DM call joins, rings, and ends as the callee decides: a
// decline ends it (rejected by the remote side), as does the callee
// leaving after it joined; the ring times out by itself. Every ending
// closes the session (our leave) and the media source.
func TestRTCPlaceOutcomes(t *testing.T) {
	const room, peer = "!dm:hs", "@bob:hs"
	tests := []struct {
		name     string
		lifetime time.Duration
		act      func(h *rtcHarness, id string)
		by       callengine.Party
		why      callengine.EndReason
	}{
		{"declined", time.Minute, func(h *rtcHarness, _ string) {
			h.r.onDeclined(room, "$other", peer)         // not our ring
			h.r.onDeclined(room, "$ring", "@mallory:hs") // not the callee
			h.r.onDeclined(room, "$ring", peer)          // ours
		}, callengine.PartyRemote, callengine.ReasonRejected},
		{"ring times out", 50 * time.Millisecond, func(*rtcHarness, string) {},
			callengine.PartyLocal, callengine.ReasonInviteTimeout},
		{"callee joins, then leaves", 50 * time.Millisecond, func(h *rtcHarness, id string) {
			h.r.onMembers(room, peerIn(peer))
			ci := h.expect(id, callengine.StateConnected)
			if ci.ConnectedAt.IsZero() {
				t.Error("connected without ConnectedAt")
			}
			time.Sleep(100 * time.Millisecond)  // past the ring's lifetime: the timer must be off
			h.r.onDeclined(room, "$ring", peer) // too late to decline
			h.r.onMembers(room, peerIn(peer))   // no change
			h.r.onMembers(room, peerIn(peer)[:1])
		}, callengine.PartyRemote, callengine.ReasonUserHangup},
		{"hangup while ringing", time.Minute, func(h *rtcHarness, id string) {
			if err := h.r.hangup(ctxT(t), id); err != nil {
				t.Fatal(err)
			}
		}, callengine.PartyLocal, callengine.ReasonUserHangup},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer checkRoutines(t)()
			h := newRTCHarness(t, tc.lifetime, nil)
			id, err := h.r.place(ctxT(t), room, peer, true)
			if err != nil {
				t.Fatal(err)
			}
			ci := h.expect(id, callengine.StateGathering)
			if ci.Direction != callengine.Outgoing || ci.Peer != peer || ci.RoomID != room || !ci.Video {
				t.Errorf("call info %+v", ci)
			}
			h.expect(id, callengine.StateInviteSent)
			if joins, rings, _ := h.session(0).counts(); joins != 1 || rings != 1 {
				t.Errorf("%d joins, %d rings", joins, rings)
			}
			if got := h.session(0).cfg; got.RoomID != room || len(got.Tracks) != 2 || got.Intent != "video" {
				t.Errorf("session config: room %q, %d tracks, intent %q", got.RoomID, len(got.Tracks), got.Intent)
			}
			tc.act(h, id)
			h.expectEnd(id, tc.by, tc.why)
			h.released(id)
			h.r.close()
		})
	}
}

// A join that fails ends the call and PlaceCall says why; a hangup while
// the join is under way cancels it. Both release everything.
func TestRTCJoinFailsOrIsCancelled(t *testing.T) {
	defer checkRoutines(t)()
	joinErr := errors.New("no SFU")
	h := newRTCHarness(t, time.Minute, func(h *rtcHarness) { h.joinErr = joinErr })
	id, err := h.r.place(ctxT(t), "!dm:hs", "@bob:hs", false)
	if !errors.Is(err, joinErr) {
		t.Fatalf("place: %v, want %v", err, joinErr)
	}
	h.expect(id, callengine.StateGathering)
	h.expectEnd(id, callengine.PartyLocal, callengine.ReasonUnknownError)
	h.released(id)
	h.r.close()

	h = newRTCHarness(t, time.Minute, func(h *rtcHarness) { h.block = true })
	placed := make(chan error, 1)
	go func() {
		_, err := h.r.place(ctxT(t), "!dm:hs", "@bob:hs", false)
		placed <- err
	}()
	ci := <-h.updates
	if ci.State != callengine.StateGathering {
		t.Fatalf("first update %+v", ci)
	}
	waitFor(t, "the join to start", func() bool {
		h.mu.Lock()
		n := len(h.sessions)
		h.mu.Unlock()
		if n == 0 {
			return false
		}
		joins, _, _ := h.session(0).counts()
		return joins == 1
	})
	if err := h.r.hangup(ctxT(t), ci.ID); err != nil {
		t.Fatal(err)
	}
	h.expectEnd(ci.ID, callengine.PartyLocal, callengine.ReasonUserHangup)
	if err := <-placed; err != nil {
		t.Errorf("place of a call hung up while joining: %v, want nil (the call exists, and ended)", err)
	}
	if _, rings, _ := h.session(0).counts(); rings != 0 {
		t.Error("rang after the hangup")
	}
	h.released(ci.ID)
}

// An incoming ring rings as an incoming call from its sender; Reject sends
// the decline of that ring and ends it; a ring that stops (timed out,
// caller gone, answered elsewhere) ends it; a ring in a room where we are
// in a call already is ignored.
func TestRTCIncomingRing(t *testing.T) {
	const room = "!dm:hs"
	ring := matrixrtc.Ring{RoomID: room, EventID: "$n1", Sender: "@alice:hs", Video: true, Expires: time.Now().Add(time.Minute)}
	tests := []struct {
		name string
		act  func(h *rtcHarness, id string)
		by   callengine.Party
		why  callengine.EndReason
		sent []string
	}{
		{"reject", func(h *rtcHarness, id string) {
			if err := h.r.reject(ctxT(t), id); err != nil {
				t.Fatal(err)
			}
		}, callengine.PartyLocal, callengine.ReasonRejected,
			[]string{matrixrtc.TypeRTCDecline + ` {"m.relates_to":{"event_id":"$n1","rel_type":"m.reference"}}`}},
		{"hangup declines too", func(h *rtcHarness, id string) {
			if err := h.r.hangup(ctxT(t), id); err != nil {
				t.Fatal(err)
			}
		}, callengine.PartyLocal, callengine.ReasonRejected,
			[]string{matrixrtc.TypeRTCDecline + ` {"m.relates_to":{"event_id":"$n1","rel_type":"m.reference"}}`}},
		{"timed out", func(h *rtcHarness, _ string) {
			h.r.onRingEnded(matrixrtc.Ring{RoomID: room, EventID: "$other"}, matrixrtc.RingTimedOut) // another ring
			h.r.onRingEnded(ring, matrixrtc.RingAnsweredHere)                                        // not an end here
			h.r.onRingEnded(ring, matrixrtc.RingTimedOut)
		}, callengine.PartyRemote, callengine.ReasonInviteTimeout, nil},
		{"caller left", func(h *rtcHarness, _ string) { h.r.onRingEnded(ring, matrixrtc.RingCallerLeft) },
			callengine.PartyRemote, callengine.ReasonUserHangup, nil},
		{"answered elsewhere", func(h *rtcHarness, _ string) { h.r.onRingEnded(ring, matrixrtc.RingAnsweredElsewhere) },
			callengine.PartyRemote, callengine.ReasonAnsweredElsewhere, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer checkRoutines(t)()
			h := newRTCHarness(t, time.Minute, nil)
			h.r.onRing(ring)
			ci := <-h.updates
			if ci.State != callengine.StateRinging || ci.Direction != callengine.Incoming || ci.Peer != ring.Sender ||
				ci.RoomID != room || !ci.Video {
				t.Fatalf("ring shown as %+v", ci)
			}
			h.r.onRing(matrixrtc.Ring{RoomID: room, EventID: "$n2", Sender: "@alice:hs"}) // same room: ignored
			if n := len(h.r.all()); n != 1 {
				t.Fatalf("%d calls after a second ring in the same room", n)
			}
			tc.act(h, ci.ID)
			h.expectEnd(ci.ID, tc.by, tc.why)
			h.released(ci.ID)
			if got := h.mx.events(); fmt.Sprint(got) != fmt.Sprint(tc.sent) {
				t.Errorf("sent %q, want %q", got, tc.sent)
			}
			h.mu.Lock()
			n := len(h.sessions)
			h.mu.Unlock()
			if n != 0 {
				t.Errorf("%d sessions made for a call never answered", n)
			}
			h.r.close()
		})
	}
}

// Answer joins the call of the ring (no ring of our own); the call
// connects, and ends when the caller leaves.
func TestRTCAnswer(t *testing.T) {
	defer checkRoutines(t)()
	h := newRTCHarness(t, time.Minute, nil)
	const room, caller = "!dm:hs", "@alice:hs"
	h.r.onRing(matrixrtc.Ring{RoomID: room, EventID: "$n1", Sender: caller, Video: true})
	id := h.expect("", callengine.StateRinging).ID
	if err := h.r.answer(ctxT(t), id, false); err != nil {
		t.Fatal(err)
	}
	h.expect(id, callengine.StateAnswering)
	if ci := h.expect(id, callengine.StateConnected); ci.Video {
		t.Error("answered without video, yet the call says video")
	}
	if joins, rings, _ := h.session(0).counts(); joins != 1 || rings != 0 {
		t.Errorf("%d joins, %d rings", joins, rings)
	}
	if cfg := h.session(0).cfg; len(cfg.Tracks) != 1 || cfg.Intent != "audio" {
		t.Errorf("voice answer publishes %d tracks, intent %q", len(cfg.Tracks), cfg.Intent)
	}
	if err := h.r.answer(ctxT(t), id, false); !errors.Is(err, callengine.ErrWrongState) {
		t.Errorf("second answer: %v, want ErrWrongState", err)
	}
	if ps := h.r.get(id).participants(); len(ps) != 1 || !ps[0].Local || ps[0].ID != "@me:hs:MYDEV" {
		t.Errorf("participants %+v", ps)
	}
	h.r.onMembers(room, peerIn(caller))
	h.r.onMembers(room, peerIn(caller)[:1])
	h.expectEnd(id, callengine.PartyRemote, callengine.ReasonUserHangup)
	h.released(id)
}

// In an end-to-end encrypted room a build that cannot encrypt MatrixRTC
// media joins, places and answers no call (its media would go out
// unencrypted): the error says why, and neither a session nor a camera is
// opened.
func TestRTCEncryptedRoomRefused(t *testing.T) {
	defer checkRoutines(t)()
	h := newRTCHarness(t, time.Minute, func(h *rtcHarness) { h.encrypted = true })
	if _, err := h.r.join(ctxT(t), "!group:hs", "", true); !errors.Is(err, ErrEncryptedCall) {
		t.Errorf("join: %v, want ErrEncryptedCall", err)
	}
	if _, err := h.r.place(ctxT(t), "!dm:hs", "@bob:hs", true); !errors.Is(err, ErrEncryptedCall) {
		t.Errorf("place: %v, want ErrEncryptedCall", err)
	}
	h.r.onRing(matrixrtc.Ring{RoomID: "!dm:hs", EventID: "$n1", Sender: "@alice:hs"})
	id := h.expect("", callengine.StateRinging).ID
	if err := h.r.answer(ctxT(t), id, true); !errors.Is(err, ErrEncryptedCall) {
		t.Errorf("answer: %v, want ErrEncryptedCall", err)
	}
	if err := h.r.reject(ctxT(t), id); err != nil {
		t.Errorf("reject: %v", err)
	}
	h.expectEnd(id, callengine.PartyLocal, callengine.ReasonRejected)
	h.mu.Lock()
	sessions, sources := len(h.sessions), len(h.sources)
	h.mu.Unlock()
	if sessions != 0 || sources != 0 {
		t.Errorf("%d sessions and %d sources opened in an encrypted room", sessions, sources)
	}
}

// A group call joined by JoinCall connects without ringing, ignores
// memberships (no DM peer), mutes, refuses hold, and Close leaves it.
func TestRTCJoinGroup(t *testing.T) {
	defer checkRoutines(t)()
	h := newRTCHarness(t, time.Minute, nil)
	id, err := h.r.join(ctxT(t), "!group:hs", "", true)
	if err != nil {
		t.Fatal(err)
	}
	h.expect(id, callengine.StateGathering)
	h.expect(id, callengine.StateConnected)
	h.r.onMembers("!group:hs", nil)
	if err := h.r.setMuted(ctxT(t), id, false, true); err != nil {
		t.Fatal(err)
	}
	if ci := h.expect(id, callengine.StateConnected); !ci.AudioMuted || ci.VideoMuted {
		t.Errorf("after muting the microphone: %+v", ci)
	}
	if ps := h.r.get(id).participants(); !ps[0].AudioMuted || ps[0].Video == nil {
		t.Errorf("our tile %+v", ps[0])
	}
	if a, v := h.session(0).mutedState(); !a || v {
		t.Errorf("signalled to the call: audio muted %v, video muted %v", a, v)
	}
	h.r.close()
	if _, _, closes := h.session(0).counts(); closes != 1 { // Close waits for the leave
		t.Errorf("session closed %d times when Close returned", closes)
	}
	h.expectEnd(id, callengine.PartyLocal, callengine.ReasonUserHangup)
	h.released(id)
	if _, err := h.r.join(ctxT(t), "!group:hs", "", true); err == nil {
		t.Error("joined after close")
	}
}

func TestUseRTC(t *testing.T) {
	noFocus := func() error { return matrixrtc.ErrNoFocus }
	focus := func() error { return nil }
	tests := []struct {
		name                          string
		legacy, encrypted, canEncrypt bool
		discover                      func() error
		want                          bool
	}{
		{"focus found", false, false, true, focus, true},
		{"no focus", false, false, true, noFocus, false},
		{"legacy preferred", true, false, true, focus, false},
		{"encrypted room, media encryption", false, true, true, focus, true},
		{"encrypted room, no media encryption", false, true, false, focus, false},
	}
	for _, tc := range tests {
		if got, why := useRTC(tc.legacy, tc.encrypted, tc.canEncrypt, tc.discover); got != tc.want || why == "" {
			t.Errorf("%s: %v (%q), want %v", tc.name, got, why, tc.want)
		}
	}
}

// Tiles: ours first, then LiveKit's list (names, mute, speaking), then
// publishers whose tracks came before the list named them.
func TestRTCParticipants(t *testing.T) {
	defer checkRoutines(t)()
	h := newRTCHarness(t, time.Minute, nil)
	id, err := h.r.join(ctxT(t), "!group:hs", "", false)
	if err != nil {
		t.Fatal(err)
	}
	c := h.r.get(id)
	c.media.peer("@carol:hs:CDEV") // a track of carol's arrived
	if ps := c.participants(); len(ps) != 2 || ps[1].ID != "@carol:hs:CDEV" || ps[1].Name != "@carol:hs" || ps[1].Local {
		t.Fatalf("tiles before LiveKit's list: %+v", ps)
	}
	c.setParticipants([]matrixrtc.Participant{
		{Identity: "@bob:hs:BDEV", UserID: "@bob:hs", Name: "Bob", AudioMuted: true, Speaking: true},
		{Identity: "@carol:hs:CDEV", UserID: "@carol:hs"},
	})
	ps := c.participants()
	if len(ps) != 3 || !ps[0].Local || ps[0].Video != nil { // a voice call: no picture of ours
		t.Fatalf("tiles %+v", ps)
	}
	if ps[1].Name != "Bob" || !ps[1].AudioMuted || !ps[1].Speaking || ps[2].Name != "@carol:hs" {
		t.Errorf("remote tiles %+v", ps[1:])
	}
	// With the room's display names, tiles show them (Element Call's
	// LiveKit names are empty).
	h.r.cfg.displayNames = func(roomID string) map[string]string {
		if roomID != "!group:hs" {
			return nil
		}
		return map[string]string{"@carol:hs": "Carol", h.mx.UserID(): "Me"}
	}
	if ps := c.participants(); ps[0].Name != "Me" || ps[1].Name != "Bob" || ps[2].Name != "Carol" {
		t.Errorf("tiles with display names: %q %q %q", ps[0].Name, ps[1].Name, ps[2].Name)
	}
	h.r.close()
	if ps := c.participants(); len(ps) != 3 || ps[1].Video != nil {
		t.Errorf("tiles after the call: %+v", ps)
	}
}

func TestUserOf(t *testing.T) {
	for in, want := range map[string]string{
		"@bob:hs:DEV":         "@bob:hs",
		"@bob:hs.org:8448:D1": "@bob:hs.org:8448",
		"@bob:hs":             "@bob:hs", // no device part
		"opaque-identity":     "opaque-identity",
		"":                    "",
	} {
		if got := userOf(in); got != want {
			t.Errorf("userOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// A membership of this device in a room where we have no call (left
// behind by a crash) is left, once; one of another device, or of a call we
// are in, is not; a join in that room waits until the stale leave is out.
func TestRTCLeavesStaleMembership(t *testing.T) {
	defer checkRoutines(t)()
	hold := make(chan struct{})
	var release sync.Once
	unhold := func() { release.Do(func() { close(hold) }) }
	h := newRTCHarness(t, time.Minute, func(h *rtcHarness) { h.mx.hold = hold })
	t.Cleanup(unhold) // before the harness's close, which waits for the leave
	stale := []matrixrtc.Membership{{Sender: "@me:hs", DeviceID: "MYDEV"}}
	h.r.onMembers("!other:hs", []matrixrtc.Membership{{Sender: "@me:hs", DeviceID: "OTHERDEV"}})
	h.r.onMembers("!room:hs", stale)
	h.r.onMembers("!room:hs", stale) // while the first leave is out: no second
	waitFor(t, "the stale leave", func() bool { return len(h.mx.states()) == 1 })
	want := "!room:hs " + matrixrtc.TypeCallMember + " " + matrixrtc.StateKey("@me:hs", "MYDEV") + " {}"
	if got := h.mx.states(); got[0] != want {
		t.Fatalf("sent %q, want %q", got[0], want)
	}
	joined := make(chan error, 1)
	go func() {
		_, err := h.r.join(ctxT(t), "!room:hs", "", false)
		joined <- err
	}()
	waitFor(t, "the session", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return len(h.sessions) == 1 })
	time.Sleep(20 * time.Millisecond)
	if joins, _, _ := h.session(0).counts(); joins != 0 {
		t.Fatal("joined while the stale leave was still out (it could land after our new membership)")
	}
	unhold()
	if err := <-joined; err != nil {
		t.Fatal(err)
	}
	h.r.onMembers("!room:hs", stale) // ours now, in our call
	time.Sleep(20 * time.Millisecond)
	if n := len(h.mx.states()); n != 1 {
		t.Errorf("%d state events sent, want only the one stale leave", n)
	}
	h.r.close()
}
