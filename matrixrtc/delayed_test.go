package matrixrtc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/transport/v5/test"
)

// fakeDelayed is a fakeMatrix whose homeserver has delayed events: it
// keeps the scheduled ones and logs every call in order with the state
// sends ("state:{}", "state:join", "delay:8s", "restart:d1", ...).
type fakeDelayed struct {
	*fakeMatrix
	supported bool
	maxDelay  time.Duration // refuse longer delays (0: none)
	failSend  bool          // the send action fails with a network error

	mu        sync.Mutex
	log       []string
	scheduled map[string]time.Duration
	n         int
}

func (f *fakeDelayed) note(s string) {
	f.mu.Lock()
	f.log = append(f.log, s)
	f.mu.Unlock()
}

func (f *fakeDelayed) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

func (f *fakeDelayed) SendState(ctx context.Context, roomID, evType, key string, content any) (string, error) {
	if c, ok := content.(map[string]any); ok && len(c) == 0 {
		f.note("state:{}")
	} else {
		f.note("state:join")
	}
	return f.fakeMatrix.SendState(ctx, roomID, evType, key, content)
}

func (f *fakeDelayed) DelayedEventsSupported(context.Context) (bool, error) {
	return f.supported, nil
}

func (f *fakeDelayed) SendDelayedState(_ context.Context, _, evType, key string, content any, delay time.Duration) (string, error) {
	f.note(fmt.Sprintf("delay:%v", delay))
	if evType != TypeCallMember || key != aliceKey {
		return "", fmt.Errorf("%w: unexpected %s %s", ErrInvalidArgument, evType, key)
	}
	if c, ok := content.(map[string]any); !ok || len(c) != 0 {
		return "", fmt.Errorf("%w: delayed content %v is not the leave", ErrInvalidArgument, content)
	}
	if f.maxDelay > 0 && delay > f.maxDelay {
		return "", &MaxDelayError{Max: f.maxDelay}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	id := fmt.Sprintf("d%d", f.n)
	if f.scheduled == nil {
		f.scheduled = map[string]time.Duration{}
	}
	f.scheduled[id] = delay
	return id, nil
}

func (f *fakeDelayed) UpdateDelayedEvent(ctx context.Context, id string, action DelayAction) error {
	f.note(string(action) + ":" + id)
	f.mu.Lock()
	_, ok := f.scheduled[id]
	if action != DelayRestart {
		delete(f.scheduled, id)
	}
	failSend := f.failSend
	f.mu.Unlock()
	switch {
	case !ok:
		return fmt.Errorf("%w: %s", ErrDelayNotFound, id)
	case action == DelaySend && failSend:
		return fmt.Errorf("%w: connection reset", ErrUnreachable)
	case action == DelaySend:
		_, err := f.fakeMatrix.SendState(ctx, roomID, TypeCallMember, aliceKey, LeaveContent())
		return err
	}
	return nil
}

// drop makes the homeserver forget a scheduled event (as one that cancels
// them when their state key changes does).
func (f *fakeDelayed) drop(id string) {
	f.mu.Lock()
	delete(f.scheduled, id)
	f.mu.Unlock()
}

func (f *fakeDelayed) count(prefix string) int {
	n := 0
	for _, c := range f.calls() {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func newDelayedSession(t *testing.T, mx *fakeMatrix, as Matrix, status int, body string) *Session {
	t.Helper()
	srv := focusServer(t, status, body)
	mx.hs = srv.URL
	s, err := NewSession(SessionConfig{Matrix: as, RoomID: roomID, Discovery: Discovery{Client: srv.Client()},
		LeaveDelayRestart: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.connect = func(_ context.Context, _, _ string, cb *lksdk.RoomCallback, _ ...lksdk.ConnectOption) (*lksdk.Room, error) {
		return lksdk.NewRoom(cb), nil
	}
	return s
}

// TestSessionDelayedLeave: with delayed events the leave is scheduled
// before the membership is sent, restarted while joined, and sent by the
// homeserver on Leave (no explicit {}).
func TestSessionDelayedLeave(t *testing.T) {
	mx := &fakeDelayed{fakeMatrix: &fakeMatrix{}, supported: true}
	s := newDelayedSession(t, mx.fakeMatrix, mx, 200, `{"url":"wss://sfu.example","jwt":"eyJ.x.y"}`)
	defer func() { _ = s.Close() }()
	ctx := context.Background()
	if err := s.Join(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "three restarts", func() bool { return mx.count("restart:d1") >= 3 })
	if err := s.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	calls := mx.calls()
	if want := []string{"delay:8s", "state:join", "restart:d1"}; !slices.Equal(calls[:3], want) {
		t.Errorf("calls start %q, want %q", calls[:3], want)
	}
	if last := calls[len(calls)-1]; last != "send:d1" {
		t.Errorf("last call %q, want send:d1", last)
	}
	if n := mx.count("state:{}"); n != 0 {
		t.Errorf("%d explicit leaves, want none (the homeserver sent the scheduled one)", n)
	}
	if sends := mx.sends(); sends[len(sends)-1] != TypeCallMember+"|"+aliceKey+"|{}" {
		t.Errorf("the state ends with %q, want the leave", sends[len(sends)-1])
	}
	// Close after Leave sends nothing more.
	n := len(mx.calls())
	_ = s.Close()
	if len(mx.calls()) != n {
		t.Errorf("calls after Close: %q", mx.calls()[n:])
	}
}

// TestSessionDelayedLeaveLost: when the homeserver no longer knows our
// scheduled leave (it fired, or our state update cancelled it), the
// membership is sent again and a new leave scheduled and restarted.
func TestSessionDelayedLeaveLost(t *testing.T) {
	mx := &fakeDelayed{fakeMatrix: &fakeMatrix{}, supported: true}
	s := newDelayedSession(t, mx.fakeMatrix, mx, 200, `{"url":"wss://sfu.example","jwt":"eyJ.x.y"}`)
	defer func() { _ = s.Close() }()
	if err := s.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a restart", func() bool { return mx.count("restart:d1") >= 1 })
	mx.drop("d1")
	eventually(t, "restarts of a new delayed leave", func() bool { return mx.count("restart:d2") >= 2 })
	calls := mx.calls()
	i := slices.Index(calls, "delay:8s")
	j := slices.Index(calls[i+1:], "delay:8s") + i + 1
	if calls[j-1] != "state:join" {
		t.Errorf("calls %q: the membership is not re-sent before the new delayed leave", calls)
	}
	if mx.count("state:join") != 2 {
		t.Errorf("calls %q, want two memberships", calls)
	}
	_ = s.Close()
	if last := mx.calls()[len(mx.calls())-1]; last != "send:d2" {
		t.Errorf("last call %q, want send:d2", last)
	}
}

// TestSessionDelayedLeaveCases: the homeserver's maximum delay is
// honoured; without support (or a Matrix without DelayedEvents) the
// leave is explicit as before; a failed send action falls back to an
// explicit leave; a failed join sends the scheduled leave.
func TestSessionDelayedLeaveCases(t *testing.T) {
	defer test.CheckRoutines(t)()
	const ok, refused = `{"url":"wss://sfu.example","jwt":"eyJ.x.y"}`, `{"errcode":"M_UNAUTHORIZED"}`
	tests := []struct {
		name    string
		mx      *fakeDelayed
		status  int
		body    string
		joinErr error
		want    []string // every call, restarts left out
	}{
		{"max delay", &fakeDelayed{supported: true, maxDelay: 4 * time.Second}, 200, ok, nil,
			[]string{"delay:8s", "delay:4s", "state:join", "send:d1"}},
		{"unsupported", &fakeDelayed{}, 200, ok, nil, []string{"state:join", "state:{}"}},
		{"send fails", &fakeDelayed{supported: true, failSend: true}, 200, ok, nil,
			[]string{"delay:8s", "state:join", "send:d1", "state:{}"}},
		{"join fails", &fakeDelayed{supported: true}, 401, refused, ErrTokenRefused,
			[]string{"delay:8s", "state:join", "send:d1"}},
		{"forbidden", &fakeDelayed{supported: true, fakeMatrix: &fakeMatrix{forbidden: true}}, 200, ok, ErrNoPermission,
			[]string{"delay:8s", "state:join", "cancel:d1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.mx.fakeMatrix == nil {
				tt.mx.fakeMatrix = &fakeMatrix{}
			}
			s := newDelayedSession(t, tt.mx.fakeMatrix, tt.mx, tt.status, tt.body)
			if err := s.Join(context.Background()); !errors.Is(err, tt.joinErr) {
				t.Fatalf("Join: %v, want %v", err, tt.joinErr)
			}
			_ = s.Close()
			var got []string
			for _, c := range tt.mx.calls() {
				if !strings.HasPrefix(c, "restart:") {
					got = append(got, c)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("calls %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("no DelayedEvents", func(t *testing.T) { // today's explicit leave
		mx := &fakeMatrix{}
		s := newDelayedSession(t, mx, mx, 200, ok)
		if err := s.Join(context.Background()); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
		if sends := mx.sends(); len(sends) != 2 || !strings.HasSuffix(sends[1], "|{}") {
			t.Errorf("sends %q", sends)
		}
	})
}
