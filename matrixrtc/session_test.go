package matrixrtc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	protoLogger "github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/transport/v5/test"
)

// fakeMatrix is an in-memory Matrix: state events are kept per room.
type fakeMatrix struct {
	hs        string
	forbidden bool

	mu    sync.Mutex
	sent  []string // "type|key|content" of every SendState
	tss   []int64  // their origin_server_ts
	state map[string]StateEvent
	ts    int64
}

func (f *fakeMatrix) SendState(_ context.Context, _, evType, key string, content any) (string, error) {
	if f.forbidden {
		return "", fmt.Errorf("%w: M_FORBIDDEN", ErrForbidden)
	}
	b, err := json.Marshal(content)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ts == 0 {
		f.ts = time.Now().UnixMilli()
	}
	f.ts += 1000
	f.tss = append(f.tss, f.ts)
	f.sent = append(f.sent, evType+"|"+key+"|"+string(b))
	if f.state == nil {
		f.state = map[string]StateEvent{}
	}
	f.state[evType+"|"+key] = StateEvent{Type: evType, StateKey: key, Sender: f.UserID(), OriginServerTS: f.ts, Content: b}
	return fmt.Sprintf("$state%d", len(f.sent)), nil
}

func (f *fakeMatrix) SendEvent(_ context.Context, _, evType string, content any) (string, error) {
	b, err := json.Marshal(content)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, evType+"||"+string(b))
	return fmt.Sprintf("$event%d", len(f.sent)), nil
}

func (f *fakeMatrix) RoomState(_ context.Context, _, evType string) ([]StateEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []StateEvent{joinEv(f.UserID(), "join")}
	for _, ev := range f.state {
		if evType == "" || ev.Type == evType {
			out = append(out, ev)
		}
	}
	return out, nil
}

func (f *fakeMatrix) OpenIDToken(context.Context) (OpenIDToken, error) {
	return OpenIDToken{AccessToken: "oid", TokenType: "Bearer", MatrixServerName: "example.org"}, nil
}
func (f *fakeMatrix) UserID() string        { return alice }
func (f *fakeMatrix) DeviceID() string      { return "ALICEDEV" }
func (f *fakeMatrix) HomeserverURL() string { return f.hs }

func (f *fakeMatrix) sends() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sent...)
}

// focusServer is a homeserver advertising itself as the focus, whose
// /sfu/get answers with status and body.
func focusServer(t *testing.T, status int, body string) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case PathTransports:
			_, _ = fmt.Fprintf(w, `{"rtc_transports":[{"type":"livekit","livekit_service_url":%q}]}`, srv.URL+"/jwt")
		case "/jwt/sfu/get":
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSessionJoinFailuresLeave(t *testing.T) {
	defer test.CheckRoutines(t)()
	const leave = TypeCallMember + "|" + aliceKey + "|{}"
	tests := []struct {
		name      string
		status    int
		body      string
		forbidden bool
		want      error
		wantSends int // membership events sent, the leave included
	}{
		{"power levels", 200, `{}`, true, ErrNoPermission, 0},
		{"token refused", 401, `{"errcode":"M_UNAUTHORIZED"}`, false, ErrTokenRefused, 2},
		{"token service down", 500, `{"errcode":"M_UNKNOWN"}`, false, ErrTokenService, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := focusServer(t, tt.status, tt.body)
			mx := &fakeMatrix{hs: srv.URL, forbidden: tt.forbidden}
			s, err := NewSession(SessionConfig{Matrix: mx, RoomID: roomID, Discovery: Discovery{Client: srv.Client()}, Intent: "video"})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			if err := s.Join(context.Background()); !errors.Is(err, tt.want) {
				t.Fatalf("Join: %v, want %v", err, tt.want)
			}
			sends := mx.sends()
			if len(sends) != tt.wantSends {
				t.Fatalf("sent %q", sends)
			}
			if tt.wantSends > 0 {
				var m map[string]any
				_ = json.Unmarshal([]byte(sends[0][len(TypeCallMember+"|"+aliceKey+"|"):]), &m)
				if fp, _ := m["foci_preferred"].([]any); len(fp) != 1 || fp[0].(map[string]any)["livekit_service_url"] != srv.URL+"/jwt" {
					t.Errorf("membership %s", sends[0])
				}
				if sends[len(sends)-1] != leave {
					t.Errorf("last send %q, want the leave", sends[len(sends)-1])
				}
			}
			// Leave and Close after a failed Join send nothing more.
			if err := s.Leave(context.Background()); err != nil {
				t.Error(err)
			}
			_ = s.Close()
			if n := len(mx.sends()); n != tt.wantSends {
				t.Errorf("%d sends after Leave/Close, want %d", n, tt.wantSends)
			}
		})
	}
}

func TestSessionNoFocus(t *testing.T) {
	defer test.CheckRoutines(t)()
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	mx := &fakeMatrix{hs: srv.URL}
	s, _ := NewSession(SessionConfig{Matrix: mx, RoomID: roomID, Discovery: Discovery{Client: srv.Client()}})
	if err := s.Join(context.Background()); !errors.Is(err, ErrNoFocus) {
		t.Errorf("Join: %v", err)
	}
	if len(mx.sends()) != 0 {
		t.Errorf("sent %q without a focus", mx.sends())
	}
	_ = s.Close()
	_ = s.Close()
	if err := s.Join(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Join after Close: %v", err)
	}
}

func TestSessionConfig(t *testing.T) {
	if _, err := NewSession(SessionConfig{RoomID: roomID}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("no Matrix: %v", err)
	}
	if _, err := NewSession(SessionConfig{Matrix: &fakeMatrix{}}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("no room: %v", err)
	}
}

// TestSessionConnectFailureLeaves: when LiveKit cannot be reached after the
// membership went out, Join fails with ErrUnreachable and leaves.
func TestSessionConnectFailureLeaves(t *testing.T) {
	lksdk.SetLogger(protoLogger.GetDiscardLogger()) // LiveKit logs each failed attempt with a stack
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := "ws" + dead.URL[len("http"):]
	dead.Close()
	srv := focusServer(t, 200, `{"url":"`+deadURL+`","jwt":"eyJ.x.y"}`)
	mx := &fakeMatrix{hs: srv.URL}
	s, err := NewSession(SessionConfig{Matrix: mx, RoomID: roomID, Discovery: Discovery{Client: srv.Client()}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if err := s.Join(context.Background()); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Join: %v, want ErrUnreachable", err)
	}
	sends := mx.sends()
	if len(sends) != 2 || sends[1] != TypeCallMember+"|"+aliceKey+"|{}" {
		t.Errorf("sent %q, want the membership then the leave", sends)
	}
}

// TestSessionRefreshAndLeave: a joined session re-sends its membership
// with created_ts kept and expires extended, and Leave sends {}. LiveKit
// is replaced by an unconnected room.
func TestSessionRefreshAndLeave(t *testing.T) {
	srv := focusServer(t, 200, `{"url":"wss://sfu.example","jwt":"eyJ.x.y"}`)
	mx := &fakeMatrix{hs: srv.URL}
	s, err := NewSession(SessionConfig{Matrix: mx, RoomID: roomID, Discovery: Discovery{Client: srv.Client()},
		Refresh: time.Millisecond, Expires: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	var gotURL, gotJWT string
	s.connect = func(_ context.Context, url, token string, cb *lksdk.RoomCallback, _ ...lksdk.ConnectOption) (*lksdk.Room, error) {
		gotURL, gotJWT = url, token
		return lksdk.NewRoom(cb), nil
	}
	ctx := context.Background()
	if err := s.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if gotURL != "wss://sfu.example" || gotJWT != "eyJ.x.y" {
		t.Errorf("connected to %q with %q", gotURL, gotJWT)
	}
	if err := s.Join(ctx); !errors.Is(err, ErrWrongState) {
		t.Errorf("second Join: %v", err)
	}
	if f, _ := s.Focus(ctx); f.Transport.ServiceURL != srv.URL+"/jwt" || f.Source != SourceTransports {
		t.Errorf("focus %+v", f)
	}
	if ms, err := s.Members(ctx); err != nil || len(ms.Members) != 1 || ms.Members[0].Identity() != alice+":ALICEDEV" {
		t.Errorf("members %+v %v", ms, err)
	}
	for len(mx.sends()) < 3 { // the join and two refreshes
		time.Sleep(time.Millisecond)
	}
	if err := s.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	sends := mx.sends()
	prefix := TypeCallMember + "|" + aliceKey + "|"
	var first, refreshed StateContent
	_ = json.Unmarshal([]byte(sends[0][len(prefix):]), &first)
	_ = json.Unmarshal([]byte(sends[2][len(prefix):]), &refreshed)
	if first.CreatedTS != 0 || first.Expires != 3600000 {
		t.Errorf("join content %+v", first)
	}
	mx.mu.Lock()
	joinTS := mx.tss[0]
	mx.mu.Unlock()
	if refreshed.CreatedTS != joinTS || refreshed.Expires < 3600000 || refreshed.DeviceID != "ALICEDEV" {
		t.Errorf("refresh content %+v", refreshed)
	}
	if last := sends[len(sends)-1]; last != prefix+"{}" {
		t.Errorf("last send %q, want the leave", last)
	}
	n := len(sends)
	if err := s.Leave(ctx); err != nil || len(mx.sends()) != n {
		t.Errorf("second Leave: %v, %d sends (want %d)", err, len(mx.sends()), n)
	}
}

func TestLeaveStaleSendsOurLeave(t *testing.T) {
	mx := &fakeMatrix{}
	if err := LeaveStale(context.Background(), mx, roomID); err != nil {
		t.Fatal(err)
	}
	if got := mx.sends(); len(got) != 1 || got[0] != TypeCallMember+"|"+StateKey(alice, "ALICEDEV")+"|{}" {
		t.Fatalf("sent %q", got)
	}
	mx.forbidden = true
	if err := LeaveStale(context.Background(), mx, roomID); !errors.Is(err, ErrForbidden) {
		t.Fatalf("forbidden: %v", err)
	}
}

// TestJoinRingingRingsBeforeLiveKit: JoinRinging sends the ring as soon
// as the membership is out, while the LiveKit connection is still being
// made (the connect here waits until it sees the ring), and returns the
// ring's event ID; the ring refers to the membership event.
func TestJoinRingingRingsBeforeLiveKit(t *testing.T) {
	srv := focusServer(t, 200, `{"url":"wss://sfu.example","jwt":"eyJ.x.y"}`)
	mx := &fakeMatrix{hs: srv.URL}
	s, err := NewSession(SessionConfig{Matrix: mx, RoomID: roomID, Discovery: Discovery{Client: srv.Client()}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	s.connect = func(ctx context.Context, _, _ string, cb *lksdk.RoomCallback, _ ...lksdk.ConnectOption) (*lksdk.Room, error) {
		for {
			for _, sent := range mx.sends() {
				if len(sent) > len(TypeRTCNotification) && sent[:len(TypeRTCNotification)] == TypeRTCNotification {
					return lksdk.NewRoom(cb), nil
				}
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := s.JoinRinging(ctx, RingOptions{Video: true, Lifetime: 20 * time.Second})
	if err != nil {
		t.Fatalf("JoinRinging: %v (the ring did not go out before LiveKit connected)", err)
	}
	sends := mx.sends()
	if len(sends) != 2 || id != "$event2" {
		t.Fatalf("sent %q, ring %q: want the membership, then the ring", sends, id)
	}
	var ring struct {
		RelatesTo struct {
			EventID string `json:"event_id"`
		} `json:"m.relates_to"`
		Lifetime int64 `json:"lifetime"`
	}
	_ = json.Unmarshal([]byte(sends[1][len(TypeRTCNotification)+2:]), &ring)
	if ring.RelatesTo.EventID != "$state1" || ring.Lifetime != 20000 {
		t.Errorf("ring %s", sends[1])
	}
	if _, err := s.JoinRinging(ctx, RingOptions{}); !errors.Is(err, ErrWrongState) {
		t.Errorf("second JoinRinging: %v", err)
	}
}

// TestJoinRingingConnectFailureLeaves: when LiveKit cannot be reached
// after the ring went out, the join fails and our membership is left (the
// callee's ring then ends, as the caller is gone).
func TestJoinRingingConnectFailureLeaves(t *testing.T) {
	defer test.CheckRoutines(t)()
	srv := focusServer(t, 200, `{"url":"wss://sfu.example","jwt":"eyJ.x.y"}`)
	defer srv.Close()
	mx := &fakeMatrix{hs: srv.URL}
	s, err := NewSession(SessionConfig{Matrix: mx, RoomID: roomID, Discovery: Discovery{Client: srv.Client()}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	s.connect = func(context.Context, string, string, *lksdk.RoomCallback, ...lksdk.ConnectOption) (*lksdk.Room, error) {
		return nil, errors.New("no route")
	}
	if _, err := s.JoinRinging(context.Background(), RingOptions{}); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("JoinRinging: %v, want ErrUnreachable", err)
	}
	sends := mx.sends()
	if n := len(sends); n != 3 || sends[n-1] != TypeCallMember+"|"+aliceKey+"|{}" {
		t.Errorf("sent %q, want the membership, the ring, then the leave", sends)
	}
}

// blockingMembership is a fakeMatrix whose first membership send waits
// until release is closed.
type blockingMembership struct {
	*fakeMatrix
	release chan struct{}
	once    sync.Once
}

func (b *blockingMembership) SendState(ctx context.Context, room, evType, key string, content any) (string, error) {
	first := false
	b.once.Do(func() { first = true })
	if first {
		select {
		case <-b.release:
		case <-time.After(5 * time.Second):
			return "", errors.New("the membership was held: LiveKit did not connect while it was being sent")
		}
	}
	return b.fakeMatrix.SendState(ctx, room, evType, key, content)
}

// TestJoinConnectsWhileTheMembershipIsSent: the LiveKit connection does
// not wait for the homeserver to accept our membership (a state event,
// slow on Dendrite), and a membership the room's power levels refuse
// still fails the join, with nothing left behind.
func TestJoinConnectsWhileTheMembershipIsSent(t *testing.T) {
	defer test.CheckRoutines(t)()
	for _, forbidden := range []bool{false, true} {
		t.Run(fmt.Sprintf("forbidden=%v", forbidden), func(t *testing.T) {
			srv := focusServer(t, 200, `{"url":"wss://sfu.example","jwt":"eyJ.x.y"}`)
			mx := &blockingMembership{fakeMatrix: &fakeMatrix{hs: srv.URL, forbidden: forbidden}, release: make(chan struct{})}
			s, err := NewSession(SessionConfig{Matrix: mx, RoomID: roomID, Discovery: Discovery{Client: srv.Client()}})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			var connects atomic.Int32
			s.connect = func(_ context.Context, _, _ string, cb *lksdk.RoomCallback, _ ...lksdk.ConnectOption) (*lksdk.Room, error) {
				if connects.Add(1) == 1 {
					close(mx.release)
				}
				return lksdk.NewRoom(cb), nil
			}
			err = s.Join(context.Background())
			switch {
			case forbidden && !errors.Is(err, ErrNoPermission):
				t.Fatalf("Join: %v, want ErrNoPermission", err)
			case !forbidden && err != nil:
				t.Fatalf("Join: %v", err)
			}
			if n := connects.Load(); n != 1 {
				t.Fatalf("%d LiveKit connections, want 1", n)
			}
			if forbidden {
				if sends := mx.sends(); len(sends) != 0 {
					t.Errorf("sent %q after a refused membership", sends)
				}
				return
			}
			if err := s.Leave(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
}
