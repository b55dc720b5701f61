package matrixrtc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/transport/v5/test"
)

// countingFocus is focusServer answering every /sfu/get with a token and
// counting them.
func countingFocus() (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case PathTransports:
			_, _ = fmt.Fprintf(w, `{"rtc_transports":[{"type":"livekit","livekit_service_url":%q}]}`, srv.URL+"/jwt")
		case "/jwt/sfu/get":
			_, _ = fmt.Fprintf(w, `{"url":"wss://sfu.example","jwt":"eyJ.x.%d"}`, n.Add(1))
		default:
			http.NotFound(w, r)
		}
	}))
	return srv, &n
}

// fakeLiveKit replaces the LiveKit connection: each connect makes an
// unconnected lksdk.Room whose callbacks the test drives, or fails when
// fail says so (connects are numbered from 1).
type fakeLiveKit struct {
	fail func(n int) error

	mu     sync.Mutex
	rooms  []*lksdk.Room
	cbs    []*lksdk.RoomCallback
	failed []*lksdk.RoomCallback // the callbacks of failed connects
	tries  int
}

func (f *fakeLiveKit) connect(_ context.Context, _, _ string, cb *lksdk.RoomCallback, _ ...lksdk.ConnectOption) (*lksdk.Room, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tries++
	if f.fail != nil {
		if err := f.fail(f.tries); err != nil {
			f.failed = append(f.failed, cb)
			return nil, err
		}
	}
	room := lksdk.NewRoom(cb)
	f.rooms = append(f.rooms, room)
	f.cbs = append(f.cbs, cb)
	return room, nil
}

func (f *fakeLiveKit) attempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tries
}

func (f *fakeLiveKit) last() (*lksdk.Room, *lksdk.RoomCallback, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rooms[len(f.rooms)-1], f.cbs[len(f.cbs)-1], len(f.rooms)
}

// eventually waits (up to a generous bound, so a loaded machine does not
// fail it) until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

type reconnectFixture struct {
	srv    *httptest.Server
	mx     *fakeMatrix
	lk     *fakeLiveKit
	s      *Session
	gets   *atomic.Int32
	ended  chan error
	lists  chan []Participant
	latest []Participant
}

func newReconnectFixture(t *testing.T, timeout time.Duration, fail func(int) error) *reconnectFixture {
	t.Helper()
	srv, gets := countingFocus()
	f := &reconnectFixture{srv: srv, mx: &fakeMatrix{hs: srv.URL}, lk: &fakeLiveKit{fail: fail}, gets: gets,
		ended: make(chan error, 1), lists: make(chan []Participant, 100)}
	s, err := NewSession(SessionConfig{Matrix: f.mx, RoomID: roomID, Discovery: Discovery{Client: srv.Client()},
		ReconnectTimeout: timeout,
		OnEnded:          func(err error) { f.ended <- err },
		OnParticipants:   func(p []Participant) { f.lists <- p }})
	if err != nil {
		t.Fatal(err)
	}
	s.connect = f.lk.connect
	f.s = s
	if err := s.Join(context.Background()); err != nil {
		f.close()
		t.Fatal(err)
	}
	return f
}

// close closes the session and the focus server (before the test's
// goroutine check).
func (f *reconnectFixture) close() {
	_ = f.s.Close()
	f.srv.Close()
}

// wantParticipants waits until the latest list delivered holds ids.
func (f *reconnectFixture) wantParticipants(t *testing.T, ids ...string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		got := make([]string, 0, len(f.latest))
		for _, p := range f.latest {
			got = append(got, p.Identity)
		}
		if slices.Equal(got, ids) {
			return
		}
		select {
		case f.latest = <-f.lists:
		case <-deadline:
			t.Fatalf("participants %v, want %v", got, ids)
		}
	}
}

func (f *reconnectFixture) leaves() int {
	n := 0
	for _, s := range f.mx.sends() {
		if strings.HasSuffix(s, "|{}") {
			n++
		}
	}
	return n
}

// TestSessionReconnects: a connection lost for a reason that can be
// undone (the SFU shut down) is retried with a fresh /sfu/get token,
// through a failed attempt, while the membership stays; the new room's
// participants are reported and the session goes on.
func TestSessionReconnects(t *testing.T) {
	defer test.CheckRoutines(t)()
	f := newReconnectFixture(t, time.Minute, func(n int) error {
		if n == 2 {
			return errors.New("connection refused")
		}
		return nil
	})
	defer f.close()
	room, _, _ := f.lk.last()
	const bob = "@bob:example.org:BOBDEV"
	room.OnParticipantUpdate([]*livekit.ParticipantInfo{participantInfo(bob, "", 1, false, false)})
	f.wantParticipants(t, bob)

	room.OnDisconnected(livekit.DisconnectReason_SERVER_SHUTDOWN)
	f.wantParticipants(t)
	eventually(t, "a third connect", func() bool { return f.lk.attempts() == 3 })
	room, _, _ = f.lk.last()
	room.OnParticipantUpdate([]*livekit.ParticipantInfo{participantInfo(bob, "", 1, false, false)})
	f.wantParticipants(t, bob)

	if n := f.gets.Load(); n != 3 {
		t.Errorf("%d /sfu/get requests, want 3 (join and two attempts)", n)
	}
	if n := f.leaves(); n != 0 {
		t.Errorf("%d leaves sent while reconnecting", n)
	}
	select {
	case err := <-f.ended:
		t.Fatalf("OnEnded(%v) after a successful reconnection", err)
	default:
	}
	if err := f.s.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := f.leaves(); n != 1 {
		t.Errorf("%d leaves after Leave, want 1", n)
	}
}

// TestSessionJoinRetriesAMediaTimeout: a join whose LiveKit connection
// timed out (signal up, media path not) connects once more, with a fresh
// token, and what the failed room reports afterwards is ignored. A second
// timeout fails the join (and leaves); other errors are not retried.
func TestSessionJoinRetriesAMediaTimeout(t *testing.T) {
	defer test.CheckRoutines(t)()
	f := newReconnectFixture(t, time.Minute, func(n int) error {
		if n == 1 {
			return fmt.Errorf("wrapped: %w", lksdk.ErrConnectionTimeout)
		}
		return nil
	})
	defer f.close()
	if n, gets := f.lk.attempts(), f.gets.Load(); n != 2 || gets != 2 {
		t.Fatalf("%d connects and %d /sfu/get requests, want 2 and 2", n, gets)
	}
	f.lk.mu.Lock()
	stale := f.lk.failed[0]
	f.lk.mu.Unlock()
	stale.OnDisconnectedWithReason(lksdk.Failed)
	time.Sleep(50 * time.Millisecond) // time for the owner to (wrongly) act on it
	if n := f.lk.attempts(); n != 2 {
		t.Errorf("%d connects after the failed room reported its end, want 2 (it is not ours)", n)
	}
	if n := f.leaves(); n != 0 {
		t.Errorf("%d leaves sent", n)
	}

	for _, c := range []struct {
		name  string
		err   error
		tries int
	}{
		{"two timeouts", lksdk.ErrConnectionTimeout, 2},
		{"refused", errors.New("connection refused"), 1},
	} {
		srv, _ := countingFocus()
		mx := &fakeMatrix{hs: srv.URL}
		lk := &fakeLiveKit{fail: func(int) error { return c.err }}
		s, err := NewSession(SessionConfig{Matrix: mx, RoomID: roomID, Discovery: Discovery{Client: srv.Client()}})
		if err != nil {
			t.Fatal(err)
		}
		s.connect = lk.connect
		if err := s.Join(context.Background()); !errors.Is(err, ErrUnreachable) || !errors.Is(err, c.err) {
			t.Errorf("%s: Join: %v", c.name, err)
		}
		if n := lk.attempts(); n != c.tries {
			t.Errorf("%s: %d connects, want %d", c.name, n, c.tries)
		}
		if sends := mx.sends(); len(sends) != 2 || sends[1] != TypeCallMember+"|"+aliceKey+"|{}" {
			t.Errorf("%s: sent %q, want the membership then the leave", c.name, sends)
		}
		_ = s.Close()
		srv.Close()
	}
}

// TestSessionDisconnectFinal: the server removing us, deleting the room or
// another connection with our identity ends the session at once (so does
// any loss with a negative ReconnectTimeout): OnEnded, the leave, no
// reconnection.
func TestSessionDisconnectFinal(t *testing.T) {
	defer test.CheckRoutines(t)()
	tests := []struct {
		reason  livekit.DisconnectReason
		timeout time.Duration
	}{
		{livekit.DisconnectReason_PARTICIPANT_REMOVED, time.Minute},
		{livekit.DisconnectReason_ROOM_DELETED, time.Minute},
		{livekit.DisconnectReason_ROOM_CLOSED, time.Minute},
		{livekit.DisconnectReason_DUPLICATE_IDENTITY, time.Minute},
		{livekit.DisconnectReason_SERVER_SHUTDOWN, -1},
	}
	for _, tt := range tests {
		t.Run(tt.reason.String(), func(t *testing.T) {
			f := newReconnectFixture(t, tt.timeout, nil)
			defer f.close()
			room, _, _ := f.lk.last()
			room.OnDisconnected(tt.reason)
			select {
			case err := <-f.ended:
				if !errors.Is(err, ErrDisconnected) {
					t.Errorf("OnEnded(%v), want ErrDisconnected", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("no OnEnded")
			}
			if n := f.leaves(); n != 1 {
				t.Errorf("%d leaves, want 1", n)
			}
			if n := f.lk.attempts(); n != 1 {
				t.Errorf("%d connects, want 1 (no reconnection)", n)
			}
		})
	}
}

// TestSessionReconnectGivesUp: when no attempt succeeds within
// ReconnectTimeout the session ends with OnEnded and leaves.
func TestSessionReconnectGivesUp(t *testing.T) {
	defer test.CheckRoutines(t)()
	f := newReconnectFixture(t, 600*time.Millisecond, func(n int) error {
		if n > 1 {
			return errors.New("connection refused")
		}
		return nil
	})
	defer f.close()
	room, _, _ := f.lk.last()
	room.OnDisconnected(livekit.DisconnectReason_SIGNAL_CLOSE)
	select {
	case err := <-f.ended:
		if !errors.Is(err, ErrDisconnected) {
			t.Errorf("OnEnded(%v), want ErrDisconnected", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no OnEnded")
	}
	if n := f.lk.attempts(); n < 3 {
		t.Errorf("%d connects, want the join and at least two attempts", n)
	}
	if n := f.leaves(); n != 1 {
		t.Errorf("%d leaves, want 1", n)
	}
}

// TestSessionLeaveWhileReconnecting: Leave during reconnection stops the
// attempts and leaves; Close leaks nothing.
func TestSessionLeaveWhileReconnecting(t *testing.T) {
	defer test.CheckRoutines(t)()
	f := newReconnectFixture(t, time.Minute, func(n int) error {
		if n > 1 {
			return errors.New("connection refused")
		}
		return nil
	})
	defer f.close()
	room, _, _ := f.lk.last()
	room.OnDisconnected(livekit.DisconnectReason_UNKNOWN_REASON)
	eventually(t, "a reconnection attempt", func() bool { return f.lk.attempts() >= 2 })
	if err := f.s.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := f.lk.attempts()
	if l := f.leaves(); l != 1 {
		t.Errorf("%d leaves, want 1", l)
	}
	// A rejoin works (and is not disturbed by the stopped attempts).
	if err := f.s.Join(context.Background()); err == nil {
		t.Error("rejoin succeeded although every connect fails")
	}
	if got := f.lk.attempts(); got != n+1 {
		t.Errorf("%d connects after Leave and a Join, want %d", got, n+1)
	}
	select {
	case err := <-f.ended:
		t.Errorf("OnEnded(%v) after Leave", err)
	default:
	}
}

// TestSessionLiveKitReconnect: LiveKit's own resume/restart
// (OnReconnecting, then OnReconnected) needs nothing from us; when it
// takes more than half of ReconnectTimeout we drop that connection and
// reconnect with a fresh token.
func TestSessionLiveKitReconnect(t *testing.T) {
	defer test.CheckRoutines(t)()
	f := newReconnectFixture(t, 400*time.Millisecond, nil)
	defer f.close()
	_, cb, _ := f.lk.last()
	cb.OnReconnecting()
	cb.OnReconnected()
	// Twice the grace period: no takeover happened.
	time.Sleep(400 * time.Millisecond)
	if n := f.lk.attempts(); n != 1 {
		t.Fatalf("%d connects after LiveKit reconnected by itself, want 1", n)
	}
	cb.OnReconnecting()
	eventually(t, "our own reconnection", func() bool { return f.lk.attempts() == 2 })
	if n := f.gets.Load(); n != 2 {
		t.Errorf("%d /sfu/get requests, want 2", n)
	}
	// The old room's late callbacks change nothing.
	cb.OnReconnected()
	cb.OnDisconnectedWithReason(lksdk.Failed)
	if err := f.s.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := f.leaves(); n != 1 {
		t.Errorf("%d leaves, want 1 (from Leave)", n)
	}
	select {
	case err := <-f.ended:
		t.Errorf("OnEnded(%v)", err)
	default:
	}
}
