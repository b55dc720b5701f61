package partner

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"

	"github.com/mxcall/mxcall/matrixrtc"
)

// fakeMemberSession is a session whose Join returns joinErr (or waits
// for its context when block is set).
type fakeMemberSession struct {
	cfg     matrixrtc.SessionConfig
	joinErr error
	block   bool

	mu     sync.Mutex
	closes int
}

func (s *fakeMemberSession) Join(ctx context.Context) error {
	if s.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return s.joinErr
}

func (s *fakeMemberSession) Close() error {
	s.mu.Lock()
	s.closes++
	s.mu.Unlock()
	return nil
}

func (s *fakeMemberSession) closed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closes
}

// TestPublish: a member joins, stays until its context ends and leaves
// (nil), gives up a join when stopped meanwhile (nil), reports a failed
// join and a session that ended by itself; the session is closed once
// on every path.
func TestPublish(t *testing.T) {
	errJoin := errors.New("no focus")
	tests := []struct {
		name    string
		joinErr error
		block   bool                                      // Join waits for its context
		then    func(cancel func(), s *fakeMemberSession) // once joined
		want    error                                     // nil: no error
		joined  bool
	}{
		{name: "stopped", then: func(cancel func(), _ *fakeMemberSession) { cancel() }, joined: true},
		{name: "stopped while joining", block: true},
		{name: "join fails", joinErr: errJoin, want: errJoin},
		{name: "session ends", joined: true, want: ErrMemberEnded,
			then: func(_ func(), s *fakeMemberSession) { s.cfg.OnEnded(matrixrtc.ErrDisconnected) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer test.CheckRoutines(t)()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "a", "s")
			if err != nil {
				t.Fatal(err)
			}
			var sess *fakeMemberSession
			made := make(chan struct{})
			joined := make(chan struct{})
			cfg := MemberConfig{
				RoomID: "!room:test", Tracks: []webrtc.TrackLocal{track},
				Joined: func() { close(joined) },
				newSession: func(c matrixrtc.SessionConfig) (rtcSession, error) {
					sess = &fakeMemberSession{cfg: c, joinErr: tc.joinErr, block: tc.block}
					close(made)
					return sess, nil
				},
			}
			res := make(chan error, 1)
			go func() { res <- Publish(ctx, &fakeRTCMatrix{}, cfg) }()
			<-made
			if tc.block {
				cancel()
			}
			if tc.joined {
				select {
				case <-joined:
				case err := <-res:
					t.Fatalf("Publish returned %v before joining", err)
				}
			}
			if tc.then != nil {
				tc.then(cancel, sess)
			}
			var got error
			select {
			case got = <-res:
			case <-time.After(10 * time.Second):
				t.Fatal("Publish did not return")
			}
			switch {
			case tc.want == nil && got != nil:
				t.Fatalf("Publish = %v, want nil", got)
			case tc.want != nil && !errors.Is(got, tc.want):
				t.Fatalf("Publish = %v, want %v", got, tc.want)
			}
			if n := sess.closed(); n != 1 {
				t.Errorf("session closed %d times, want 1", n)
			}
			c := sess.cfg
			if c.RoomID != "!room:test" || c.Intent != "video" || len(c.Tracks) != 1 || len(c.ConnectOptions) == 0 {
				t.Errorf("session config: room %q intent %q, %d tracks, %d connect options", c.RoomID, c.Intent, len(c.Tracks), len(c.ConnectOptions))
			}
		})
	}
}
