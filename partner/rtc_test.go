package partner

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"

	"github.com/mxcall/mxcall/matrixrtc"
)

type fakeRTCMatrix struct {
	mu   sync.Mutex
	sent []string
}

func (m *fakeRTCMatrix) SendState(context.Context, string, string, string, any) (string, error) {
	return "$s", nil
}

func (m *fakeRTCMatrix) SendEvent(_ context.Context, _, evType string, content any) (string, error) {
	b, _ := json.Marshal(content)
	m.mu.Lock()
	m.sent = append(m.sent, evType+" "+string(b))
	m.mu.Unlock()
	return "$e", nil
}

func (m *fakeRTCMatrix) RoomState(context.Context, string, string) ([]matrixrtc.StateEvent, error) {
	return nil, nil
}

func (m *fakeRTCMatrix) OpenIDToken(context.Context) (matrixrtc.OpenIDToken, error) {
	return matrixrtc.OpenIDToken{}, nil
}
func (m *fakeRTCMatrix) UserID() string        { return "@echo:test" }
func (m *fakeRTCMatrix) DeviceID() string      { return "ECHODEV" }
func (m *fakeRTCMatrix) HomeserverURL() string { return "" }

func (m *fakeRTCMatrix) events() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.sent...)
}

type fakeEchoSession struct {
	cfg matrixrtc.SessionConfig

	mu            sync.Mutex
	joins, closes int
}

func (s *fakeEchoSession) Join(context.Context) error {
	s.mu.Lock()
	s.joins++
	s.mu.Unlock()
	return nil
}

func (s *fakeEchoSession) Close() error {
	s.mu.Lock()
	s.closes++
	s.mu.Unlock()
	return nil
}

func (s *fakeEchoSession) counts() (joins, closes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.joins, s.closes
}

type rtcEchoHarness struct {
	e  *RTCEcho
	mx *fakeRTCMatrix

	mu       sync.Mutex
	sessions []*fakeEchoSession
}

func newRTCEchoHarness(t *testing.T, encrypted bool, answerAfter time.Duration) *rtcEchoHarness {
	t.Helper()
	h := &rtcEchoHarness{mx: &fakeRTCMatrix{}}
	h.e = NewRTCEcho(RTCConfig{Matrix: h.mx, AnswerAfter: answerAfter,
		Encrypted: func(string) bool { return encrypted },
		newSession: func(cfg matrixrtc.SessionConfig) (rtcSession, error) {
			s := &fakeEchoSession{cfg: cfg}
			h.mu.Lock()
			h.sessions = append(h.sessions, s)
			h.mu.Unlock()
			return s, nil
		}})
	t.Cleanup(func() { _ = h.e.Close() })
	return h
}

func (h *rtcEchoHarness) session(t *testing.T) *fakeEchoSession {
	t.Helper()
	var s *fakeEchoSession
	waitUntil(t, "a session", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.sessions) > 0 {
			s = h.sessions[0]
		}
		return s != nil
	})
	return s
}

func (h *rtcEchoHarness) live() int {
	h.e.mu.Lock()
	defer h.e.mu.Unlock()
	return len(h.e.calls)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second) // a hang guard
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var echoRing = matrixrtc.Ring{RoomID: "!dm:test", EventID: "$ring", Sender: "@alice:test", Video: true}

func members(users ...string) []matrixrtc.Membership {
	var ms []matrixrtc.Membership
	for _, u := range users {
		ms = append(ms, matrixrtc.Membership{Sender: u, DeviceID: "DEV"})
	}
	return ms
}

// A ring makes the echo join the call with an audio and a video echo
// track; it stays while the caller is in the call and leaves when the
// caller leaves. A second ring in the same room does not join twice.
func TestRTCEchoAnswersAndLeavesWithTheCaller(t *testing.T) {
	defer test.CheckRoutines(t)()
	h := newRTCEchoHarness(t, false, 0)
	h.e.OnRing(echoRing)
	h.e.OnRing(matrixrtc.Ring{RoomID: echoRing.RoomID, EventID: "$ring2", Sender: echoRing.Sender})
	s := h.session(t)
	waitUntil(t, "the join", func() bool { j, _ := s.counts(); return j == 1 })
	if len(s.cfg.Tracks) != 2 || s.cfg.RoomID != echoRing.RoomID || s.cfg.Intent != "video" || s.cfg.OnRemoteTrack == nil {
		t.Errorf("session config: %d tracks, room %q, intent %q", len(s.cfg.Tracks), s.cfg.RoomID, s.cfg.Intent)
	}
	h.e.OnRingEnded(echoRing, matrixrtc.RingAnsweredHere)
	h.e.OnMembers(echoRing.RoomID, members(echoRing.Sender, "@echo:test"))
	time.Sleep(20 * time.Millisecond)
	if _, closes := s.counts(); closes != 0 {
		t.Fatal("left while the caller is in the call")
	}
	h.e.OnMembers(echoRing.RoomID, members("@echo:test"))
	waitUntil(t, "the leave", func() bool { _, c := s.counts(); return c == 1 })
	waitUntil(t, "the call forgotten", func() bool { return h.live() == 0 })
	h.mu.Lock()
	n := len(h.sessions)
	h.mu.Unlock()
	if n != 1 {
		t.Errorf("%d sessions for one room", n)
	}
}

// A ring that stops while the echo waits to answer (AnswerAfter) is never
// joined; Close leaves a joined call.
func TestRTCEchoRingEndsBeforeAnswerAndClose(t *testing.T) {
	defer test.CheckRoutines(t)()
	h := newRTCEchoHarness(t, false, time.Hour)
	h.e.OnRing(echoRing)
	h.e.OnRingEnded(echoRing, matrixrtc.RingTimedOut)
	waitUntil(t, "the pending answer given up", func() bool { return h.live() == 0 })
	h.mu.Lock()
	n := len(h.sessions)
	h.mu.Unlock()
	if n != 0 {
		t.Errorf("%d sessions for a ring that timed out before the answer", n)
	}

	h = newRTCEchoHarness(t, false, 0)
	h.e.OnRing(echoRing)
	s := h.session(t)
	waitUntil(t, "the join", func() bool { j, _ := s.counts(); return j == 1 })
	if err := h.e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, closes := s.counts(); closes != 1 {
		t.Errorf("Close left %d times", closes)
	}
	h.e.OnRing(echoRing) // after Close: ignored
	if h.live() != 0 {
		t.Error("answered after Close")
	}
}

// In an encrypted room the echo declines the ring and joins nothing.
func TestRTCEchoDeclinesInEncryptedRooms(t *testing.T) {
	defer test.CheckRoutines(t)()
	h := newRTCEchoHarness(t, true, 0)
	h.e.OnRing(echoRing)
	waitUntil(t, "the decline", func() bool { return len(h.mx.events()) == 1 })
	want := matrixrtc.TypeRTCDecline + ` {"m.relates_to":{"event_id":"$ring","rel_type":"m.reference"}}`
	if got := h.mx.events()[0]; got != want {
		t.Errorf("sent %s, want %s", got, want)
	}
	_ = h.e.Close()
	h.mu.Lock()
	n := len(h.sessions)
	h.mu.Unlock()
	if n != 0 {
		t.Errorf("%d sessions in an encrypted room", n)
	}
}

// fakeToDevice records the to-device events sent.
type fakeToDevice struct {
	mu   sync.Mutex
	sent []map[string]map[string]any
}

func (f *fakeToDevice) SendToDevice(_ context.Context, evType string, msgs map[string]map[string]any) error {
	if evType != matrixrtc.TypeEncryptionKeys {
		return nil
	}
	f.mu.Lock()
	f.sent = append(f.sent, msgs)
	f.mu.Unlock()
	return nil
}

func (f *fakeToDevice) messages() []map[string]map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]map[string]any(nil), f.sent...)
}

// In an encrypted room the echo joins with encrypted tracks and sends each
// media key the caller sends it straight back, as its own, at the same
// index (the echoed frames are the caller's, encrypted with that key); it
// sends no key of its own, and keys of anyone but the caller stay put.
func TestRTCEchoMirrorsTheCallersKeys(t *testing.T) {
	defer test.CheckRoutines(t)()
	h := newRTCEchoHarness(t, true, 0)
	td := &fakeToDevice{}
	h.e.cfg.Keys = td
	h.e.OnRing(echoRing)
	s := h.session(t)
	if !s.cfg.Encrypted {
		t.Error("the echo publishes unencrypted tracks into an encrypted room")
	}
	key := []byte("0123456789abcdef")
	raw := func(sender, device string, index uint8) json.RawMessage {
		b, _ := json.Marshal(matrixrtc.KeyContent(echoRing.RoomID, sender, device, index, key))
		return b
	}
	h.e.OnToDevice(matrixrtc.ToDeviceEvent{Sender: "@mallory:test", SenderDevice: "MDEV", Type: matrixrtc.TypeEncryptionKeys,
		Content: raw("@mallory:test", "MDEV", 1)})
	h.e.OnToDevice(matrixrtc.ToDeviceEvent{Sender: echoRing.Sender, SenderDevice: "ADEV", Type: matrixrtc.TypeEncryptionKeys,
		Content: raw(echoRing.Sender, "ADEV", 3)})
	waitUntil(t, "the mirrored key", func() bool { return len(td.messages()) > 0 })
	_ = h.e.Close()
	msgs := td.messages()
	if len(msgs) != 1 || len(msgs[0]) != 1 || len(msgs[0][echoRing.Sender]) != 1 {
		t.Fatalf("sent %v, want one key to the caller's device", msgs)
	}
	b, _ := json.Marshal(msgs[0][echoRing.Sender]["ADEV"])
	var got struct {
		Keys struct {
			Index int    `json:"index"`
			Key   string `json:"key"`
		} `json:"keys"`
		RoomID string `json:"room_id"`
		Member struct {
			Device string `json:"claimed_device_id"`
		} `json:"member"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Keys.Index != 3 || got.Keys.Key != base64.StdEncoding.EncodeToString(key) || got.RoomID != echoRing.RoomID || got.Member.Device != "ECHODEV" {
		t.Errorf("mirrored key %s", b)
	}
}
