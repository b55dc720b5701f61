package matrixrtc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
)

// Session defaults.
const (
	// DefaultRefresh is how often a joined session re-sends its membership
	// (js-sdk refreshes roughly hourly).
	DefaultRefresh = time.Hour
	// DefaultReconnectTimeout is how long a lost LiveKit connection is
	// retried before the session ends.
	DefaultReconnectTimeout = 30 * time.Second
	// leaveTimeout bounds the leave sent when the caller's context is gone.
	leaveTimeout = 15 * time.Second
)

// SessionConfig configures a Session.
type SessionConfig struct {
	// Matrix reaches the homeserver (required).
	Matrix Matrix
	// RoomID is the Matrix room of the call (required).
	RoomID string
	// Discovery finds the focus; its Client also carries the /sfu/get
	// request.
	Discovery Discovery
	// AccessToken authorises the rtc/transports discovery requests; ""
	// sends them without.
	AccessToken string
	// Intent is m.call.intent ("video", "audio"); "" leaves it out.
	Intent string
	// Expires is the membership's lifetime without refresh (default
	// DefaultExpires).
	Expires time.Duration
	// Refresh is how often the membership is re-sent while joined
	// (default DefaultRefresh; must be well below Expires).
	Refresh time.Duration
	// LeaveDelay is the delay of the leave a session schedules before
	// joining when the homeserver supports delayed events (MSC4140) and
	// Matrix implements DelayedEvents (default DefaultLeaveDelay;
	// negative: never schedule one). LeaveDelayRestart is how often it is
	// pushed back while joined (default DefaultLeaveDelayRestart; at most
	// 5/8 of the delay).
	LeaveDelay, LeaveDelayRestart time.Duration
	// ReconnectTimeout bounds how long a session whose LiveKit connection
	// was lost (an SFU restart, a network failure) tries to get it back,
	// keeping its membership, before it ends with OnEnded (default
	// DefaultReconnectTimeout; negative: end at once).
	ReconnectTimeout time.Duration
	// Tracks are published once connected (e.g. from mxcall's media),
	// and again after a reconnection. A track with a Close method is
	// closed by LiveKit's SDK when its connection ends, so it cannot be
	// published again: hand over tracks without one.
	Tracks []webrtc.TrackLocal
	// Encrypted publishes Tracks as end-to-end encrypted (Encryption_GCM,
	// LiveKit's frame format): set it when the tracks encrypt their frames
	// (media.Source.SetEncryption), so that receivers decrypt them.
	Encrypted bool
	// OnRemoteTrack is called, on a LiveKit goroutine, for each subscribed
	// remote track. It must not block: hand the track on.
	OnRemoteTrack func(RemoteTrack)
	// OnParticipants is called, on a goroutine of the session's, with the
	// full list of remote participants whenever it changes (joins, leaves,
	// mutes, active speakers), sorted by identity; an empty list after
	// Leave or a lost connection. Calls are serialised and may skip
	// lists superseded before delivery (the latest is always delivered);
	// it must not block, nor call Close. Close waits for the last call.
	OnParticipants func([]Participant)
	// OnEnded is called, on a goroutine of its own, when the session
	// ends without Leave or Close: LiveKit disconnected us (removed,
	// room closed), or the connection was lost and not regained within
	// ReconnectTimeout. The membership has been left by then.
	// err wraps ErrDisconnected.
	OnEnded func(err error)
	// ConnectOptions are passed to lksdk.ConnectToRoomWithToken.
	ConnectOptions []lksdk.ConnectOption
	// Log receives the session's logs (default slog.Default()).
	Log *slog.Logger
}

// RemoteTrack is one subscribed remote track and its publisher.
type RemoteTrack struct {
	// Identity is the publisher's LiveKit identity ("@user:server:DEVICE"
	// for tokens from /sfu/get).
	Identity string
	Track    *webrtc.TrackRemote
	// RequestKeyframe asks the publisher, through the SFU, for a key
	// frame (a PLI for this track).
	RequestKeyframe func()
	// Encrypted is true when the publisher says the track's frames are
	// end-to-end encrypted (TrackInfo.encryption is not NONE): decrypt
	// them with the publisher's key.
	Encrypted bool
	// SIFTrailer marks frames the SFU itself injected in the clear (the
	// join response's sif_trailer; see framecrypt.Decryptor.SetSIFTrailer).
	SIFTrailer []byte
	// Screen is true for a screen share (LiveKit's TrackSource
	// SCREEN_SHARE), false for a camera or microphone.
	Screen bool
	// Ended is closed when the track is gone: the publisher unpublished
	// it (a share stopped) or left, or our session left the room.
	Ended <-chan struct{}
}

// Participant is one remote member of the session's LiveKit room.
type Participant struct {
	// Identity is the LiveKit identity; UserID and DeviceID are parsed
	// from it when it has the "@user:server:DEVICE" form (else empty).
	Identity, UserID, DeviceID string
	// Name is the participant's LiveKit name (may be empty).
	Name string
	// AudioMuted and VideoMuted are true when the participant publishes
	// no unmuted track of that kind.
	AudioMuted, VideoMuted bool
	// Speaking is true while LiveKit lists the participant among the
	// active speakers.
	Speaking bool
	// Screensharing is true while the participant publishes a screen
	// share (which VideoMuted does not count: that is the camera's).
	Screensharing bool
}

// Session is one device's membership of a room's MatrixRTC call and its
// LiveKit connection. One goroutine owns its state; Join, Leave and Close
// hand it work and wait.
type Session struct {
	cfg  SessionConfig
	cmds chan func()
	quit chan struct{}
	done chan struct{}
	once sync.Once

	// sif is the current room's SIF trailer (set once connected).
	sif atomic.Pointer[[]byte]
	// sharing holds our screen share (see screen).
	sharing atomic.Pointer[webrtc.TrackLocal]
	// audioMuted and videoMuted are our tracks' mutes (SetMuted);
	// muteDirty (1 slot) tells the owner they changed.
	audioMuted, videoMuted atomic.Bool
	muteDirty              chan struct{}

	// Owned by the run goroutine.
	joined bool
	gen    int  // counts LiveKit rooms (joins, retries, reconnections), so late callbacks of old ones are ignored
	sent   bool // a membership is out and must be left
	// memberEvent is the event ID of our membership (rings relate to it).
	memberEvent string
	room        *lksdk.Room
	focus       Focus
	created     time.Time
	refresh     *time.Timer
	// parts is the remote participant list last handed to the notifier.
	parts []Participant

	// ends holds the Ended channels of subscribed remote tracks, closed
	// (and removed) when LiveKit unsubscribes a track or we leave.
	endsMu sync.Mutex
	ends   map[*webrtc.TrackRemote]chan struct{}

	// partsDirty (1 slot) tells the owner that LiveKit changed the
	// participants; partsBox (1 slot) holds the latest list for the
	// notifier goroutine, which closes notified when it has stopped.
	partsDirty chan struct{}
	partsBox   chan []Participant
	notified   chan struct{}

	// Delayed leave (delayed.go): delayed is the Matrix's DelayedEvents
	// while the homeserver supports them (nil otherwise), delayID our
	// scheduled leave, delayTimer its next restart.
	delayed    DelayedEvents
	delayID    string
	delayTimer *time.Timer
	leaveDelay time.Duration

	// Reconnection (reconnect.go). lostAt is when the connection was
	// lost (zero while connected); reconnecting is true while our own
	// attempts run (s.room is nil then), cancelAttempt stops the one in
	// flight and retry starts the next; lkGrace bounds LiveKit's own
	// resume/restart attempts.
	lostAt        time.Time
	reconnecting  bool
	attempt       int
	deadGen       int // an attempt whose room dropped before it was installed
	retry         *time.Timer
	lkGrace       *time.Timer
	cancelAttempt context.CancelFunc
	attempts      sync.WaitGroup

	// lkEvents queues LiveKit's connection callbacks, in order, for the
	// owner; lkDirty (1 slot) says there are some.
	lkMu     sync.Mutex
	lkEvents []lkEvent
	lkDirty  chan struct{}

	// connect joins a LiveKit room (connectLiveKit); unit tests replace it.
	connect func(ctx context.Context, url, token string, cb *lksdk.RoomCallback, opts ...lksdk.ConnectOption) (*lksdk.Room, error)
}

// NewSession checks cfg and starts the session's goroutine. Close it.
func NewSession(cfg SessionConfig) (*Session, error) {
	if cfg.Matrix == nil || cfg.RoomID == "" {
		return nil, fmt.Errorf("%w: a session needs a Matrix and a room", ErrInvalidArgument)
	}
	if cfg.Expires <= 0 {
		cfg.Expires = DefaultExpires
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	if cfg.LeaveDelay == 0 {
		cfg.LeaveDelay = DefaultLeaveDelay
	}
	if cfg.LeaveDelayRestart <= 0 {
		cfg.LeaveDelayRestart = DefaultLeaveDelayRestart
	}
	if cfg.ReconnectTimeout == 0 {
		cfg.ReconnectTimeout = DefaultReconnectTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Session{cfg: cfg, cmds: make(chan func()), muteDirty: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		partsDirty: make(chan struct{}, 1), notified: make(chan struct{}), lkDirty: make(chan struct{}, 1),
		connect: connectLiveKit}
	if cfg.OnParticipants != nil {
		s.partsBox = make(chan []Participant, 1)
		go s.notifyParticipants()
	} else {
		close(s.notified)
	}
	go s.run()
	return s, nil
}

func (s *Session) run() {
	defer close(s.done)
	for {
		var refreshC, retryC, graceC, delayC <-chan time.Time
		if s.delayTimer != nil {
			delayC = s.delayTimer.C
		}
		if s.refresh != nil {
			refreshC = s.refresh.C
		}
		if s.retry != nil {
			retryC = s.retry.C
		}
		if s.lkGrace != nil {
			graceC = s.lkGrace.C
		}
		select {
		case fn := <-s.cmds:
			fn()
		case <-s.partsDirty:
			s.updateParticipants()
		case <-s.muteDirty:
			s.applyMuted()
		case <-s.lkDirty:
			s.handleLiveKitEvents()
		case <-delayC:
			s.delayTimer = nil
			s.restartDelayedLeave()
		case <-retryC:
			s.retry = nil
			s.reconnect()
		case <-graceC:
			s.lkGrace = nil
			s.liveKitGaveUp()
		case <-refreshC:
			s.refresh = nil
			s.refreshMembership()
		case <-s.quit:
			ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
			_ = s.leave(ctx)
			cancel()
			return
		}
	}
}

// do runs fn on the owner goroutine and returns its error.
func (s *Session) do(ctx context.Context, fn func() error) error {
	res := make(chan error, 1)
	select {
	case s.cmds <- func() { res <- fn() }:
	case <-s.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-res
}

// post hands fn to the owner goroutine without waiting for it; it is
// dropped (and post returns false) once the session is closed.
func (s *Session) post(fn func()) bool {
	select {
	case s.cmds <- fn:
		return true
	case <-s.quit:
		return false
	}
}

// Join discovers the focus, sends our membership, gets a LiveKit token,
// connects and publishes the configured tracks. On any failure after the
// membership was sent it sends the leave before returning.
func (s *Session) Join(ctx context.Context) error {
	return s.do(ctx, func() error {
		_, err := s.join(ctx, nil)
		return err
	})
}

// RingOptions are the ring JoinRinging sends.
type RingOptions struct {
	// Video says the call is a video call.
	Video bool
	// Lifetime is how long the ring lasts (default DefaultRingLifetime).
	Lifetime time.Duration
}

// JoinRinging joins as Join does and sends the ring as soon as our
// membership is out, while the LiveKit connection is still being made:
// the callee's device starts ringing, and its user can answer, a LiveKit
// connection earlier (RTC-NOTES §1c: the ring refers to the membership,
// which is the join as far as Matrix goes). It returns the ring's event
// ID. When the ring cannot be sent the join fails as a whole (and leaves).
func (s *Session) JoinRinging(ctx context.Context, ring RingOptions) (notificationID string, err error) {
	err = s.do(ctx, func() error {
		var err error
		notificationID, err = s.join(ctx, &ring)
		return err
	})
	return notificationID, err
}

// Leave disconnects from LiveKit and sends the leave ({}); it is a no-op
// when not joined.
func (s *Session) Leave(ctx context.Context) error {
	return s.do(ctx, func() error { return s.leave(ctx) })
}

// Close leaves (if joined) and stops the session's goroutine. It is
// idempotent.
func (s *Session) Close() error {
	s.once.Do(func() { close(s.quit) })
	<-s.done
	s.attempts.Wait()
	<-s.notified
	return nil
}

// Focus is the focus the session joined on (zero before Join).
func (s *Session) Focus(ctx context.Context) (Focus, error) {
	var f Focus
	err := s.do(ctx, func() error { f = s.focus; return nil })
	return f, err
}

func (s *Session) stateKey() string {
	return StateKey(s.cfg.Matrix.UserID(), s.cfg.Matrix.DeviceID())
}

func (s *Session) join(ctx context.Context, ring *RingOptions) (_ string, err error) {
	if s.joined {
		return "", fmt.Errorf("%w: already joined", ErrWrongState)
	}
	mx := s.cfg.Matrix
	sw := newStopwatch()
	defer func() { s.cfg.Log.Debug("matrixrtc: join", "room", s.cfg.RoomID, "err", err, "steps", sw) }()
	var live []Membership
	if state, err := mx.RoomState(ctx, s.cfg.RoomID, ""); err == nil {
		live = NewMemberships(s.cfg.RoomID, state, time.Now()).Slot(SlotRoom)
	} else {
		s.cfg.Log.Warn("matrixrtc: room state unavailable for discovery", "room", s.cfg.RoomID, "err", err)
	}
	sw.mark("state")
	focus, err := s.cfg.Discovery.Discover(ctx, mx.HomeserverURL(), s.cfg.AccessToken, live)
	if err != nil {
		return "", err
	}
	sw.mark("discover")
	// The steps that do not need each other run side by side (a join is
	// on the path from the click to the first picture): the LiveKit
	// connection does not need the membership, the ring and our
	// created_ts need only the membership, not the LiveKit connection.
	sctx, stop := context.WithCancel(ctx)
	var steps sync.WaitGroup
	type roomResult struct {
		room *lksdk.Room
		err  error
	}
	roomc := make(chan roomResult, 1)
	defer func() {
		stop() // on success every step has ended already
		steps.Wait()
		if err == nil {
			return
		}
		select { // a LiveKit connection made for a join that failed
		case r := <-roomc:
			if r.room != nil {
				r.room.Disconnect()
			}
		default:
		}
		if lerr := s.cleanup(ctx); lerr != nil {
			s.cfg.Log.Warn("matrixrtc: leave after a failed join", "room", s.cfg.RoomID, "err", lerr)
		}
	}()
	// The LiveKit token, then the connection and our tracks' publishing,
	// go alongside the membership (Dendrite takes 70–190 ms to accept a
	// state event): the membership is out before the join returns, and a
	// join whose membership fails disconnects again.
	s.gen++
	gen := s.gen
	steps.Go(func() {
		room, err := s.connectRoom(sctx, gen, focus, sw, nil)
		roomc <- roomResult{room, err}
	})
	// Our leave is scheduled before the membership goes out, so a
	// crash at any point after leaves too (MSC4140; js-sdk does so).
	s.delayed, s.delayID, s.leaveDelay = s.delayedEvents(ctx), "", s.cfg.LeaveDelay
	if s.delayed != nil {
		if err := s.scheduleLeave(ctx); err != nil {
			s.cfg.Log.Warn("matrixrtc: no delayed leave", "room", s.cfg.RoomID, "err", err)
			s.delayed = nil
		}
	}
	sw.mark("delayed-leave")
	content := NewStateContent(mx.UserID(), mx.DeviceID(), s.cfg.RoomID, focus.Transport, s.cfg.Intent, s.cfg.Expires, time.Time{})
	s.sent = true // a failed send may still have reached the server
	evID, err := mx.SendState(ctx, s.cfg.RoomID, TypeCallMember, s.stateKey(), content)
	if err != nil {
		if errors.Is(err, ErrForbidden) {
			s.sent = false
			return "", fmt.Errorf("%w: %w", ErrNoPermission, err)
		}
		return "", fmt.Errorf("matrixrtc: sending the membership: %w", err)
	}
	s.memberEvent = evID
	sw.mark("membership")
	type ringResult struct {
		id  string
		err error
	}
	ringc := make(chan ringResult, 1)
	if ring != nil {
		steps.Go(func() {
			id, err := s.sendRing(sctx, evID, ring.Video, ring.Lifetime)
			sw.mark("ring")
			ringc <- ringResult{id, err}
		})
	} else {
		ringc <- ringResult{}
	}
	createdc := make(chan time.Time, 1)
	steps.Go(func() { createdc <- s.sentAt(sctx) })
	rc := <-roomc
	if errors.Is(rc.err, lksdk.ErrConnectionTimeout) && sctx.Err() == nil {
		// The SFU answered but the media path (ICE, DTLS) was not up
		// within lksdk's connect timeout (5 s). It is rare, and gone on
		// the next try (seen even on loopback, where the usual join takes
		// 0.6 s): one more attempt, with a fresh token, before the call
		// fails. A new generation, so that anything the failed room
		// still reports is ignored.
		s.cfg.Log.Info("matrixrtc: LiveKit connection timed out, connecting again", "room", s.cfg.RoomID, "err", rc.err)
		s.gen++
		rc.room, rc.err = s.connectRoom(sctx, s.gen, focus, sw, nil)
	}
	if rc.err != nil {
		return "", rc.err
	}
	room := rc.room
	s.room = room
	s.applyMuted()
	rr := <-ringc
	if rr.err != nil {
		return "", rr.err
	}
	s.created = <-createdc
	s.joined, s.focus = true, focus
	s.refresh = time.NewTimer(s.cfg.Refresh)
	if s.delayed != nil {
		// At once: a homeserver that cancels delayed events when their
		// state key changes has just dropped it (js-sdk checks the same).
		s.delayTimer = time.NewTimer(0)
	}
	// Participants already in the room came with the join response,
	// which fires no callback for those without tracks.
	s.participantsChanged()
	return rr.id, nil
}

// sentAt finds the origin_server_ts of our membership (what receivers use
// as created_ts), else now.
func (s *Session) sentAt(ctx context.Context) time.Time {
	evs, err := s.cfg.Matrix.RoomState(ctx, s.cfg.RoomID, TypeCallMember)
	if err == nil {
		for _, ev := range evs {
			if ev.StateKey == s.stateKey() && ev.Sender == s.cfg.Matrix.UserID() && ev.OriginServerTS > 0 {
				return time.UnixMilli(ev.OriginServerTS)
			}
		}
	}
	return time.Now()
}

// refreshMembership re-sends the membership with created_ts kept and
// expires extended to Expires from now.
func (s *Session) refreshMembership() {
	if !s.joined {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	if err := s.sendMembership(ctx); err != nil {
		s.cfg.Log.Warn("matrixrtc: membership refresh failed", "room", s.cfg.RoomID, "err", err)
	}
	s.refresh = time.NewTimer(s.cfg.Refresh)
}

// sendMembership (owner) re-sends our membership with created_ts kept and
// expires extended to Expires from now.
func (s *Session) sendMembership(ctx context.Context) error {
	mx := s.cfg.Matrix
	// Expires from now, counted from created_ts; never shorter than
	// Expires, even when the homeserver's clock runs ahead of ours.
	expires := max(time.Since(s.created), 0) + s.cfg.Expires
	content := NewStateContent(mx.UserID(), mx.DeviceID(), s.cfg.RoomID, s.focus.Transport, s.cfg.Intent, expires, s.created)
	_, err := mx.SendState(ctx, s.cfg.RoomID, TypeCallMember, s.stateKey(), content)
	return err
}

func (s *Session) leave(ctx context.Context) error {
	return s.cleanup(ctx)
}

// cleanup disconnects and sends the leave if a membership is out. It uses
// ctx's values but not its cancellation, so a cancelled Join still leaves.
func (s *Session) cleanup(ctx context.Context) error {
	if s.refresh != nil {
		s.refresh.Stop()
		s.refresh = nil
	}
	s.stopReconnecting()
	s.gen++ // callbacks of the room and attempts in flight are stale now
	if s.room != nil {
		s.room.Disconnect()
		s.room = nil
	}
	s.setScreen(nil) // a share ends with the session's membership
	s.endRemoteTracks()
	s.updateParticipants() // none left
	s.joined = false
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaveTimeout)
	defer cancel()
	if s.dropDelayedLeave(lctx) {
		s.sent = false // the homeserver sent our scheduled leave
	}
	if !s.sent {
		return nil
	}
	if _, err := s.cfg.Matrix.SendState(lctx, s.cfg.RoomID, TypeCallMember, s.stateKey(), LeaveContent()); err != nil {
		return fmt.Errorf("matrixrtc: sending the leave: %w", err)
	}
	s.sent = false
	return nil
}

// sendRing sends the ring notification that refers to our membership
// event memberEvent. It touches none of the owner's state.
func (s *Session) sendRing(ctx context.Context, memberEvent string, video bool, lifetime time.Duration) (string, error) {
	if lifetime <= 0 {
		lifetime = DefaultRingLifetime
	}
	id, err := s.cfg.Matrix.SendEvent(ctx, s.cfg.RoomID, TypeRTCNotification, RingContent(memberEvent, video, lifetime, time.Now()))
	if err != nil {
		return "", fmt.Errorf("matrixrtc: sending the ring: %w", err)
	}
	return id, nil
}

// Decline declines the ring r (MSC4310).
func Decline(ctx context.Context, mx Matrix, r Ring) error {
	if _, err := mx.SendEvent(ctx, r.RoomID, TypeRTCDecline, DeclineContent(r.EventID)); err != nil {
		return fmt.Errorf("matrixrtc: sending the decline: %w", err)
	}
	return nil
}

// LeaveStale ends a membership of this device that no session of ours
// owns: one left behind when the app was killed or crashed while in a
// call (without delayed leave events nothing else ends it before it
// expires, hours later, and until then others see us in the call). Call it
// for a room whose live memberships list this device while we are not in
// its call.
func LeaveStale(ctx context.Context, mx Matrix, roomID string) error {
	if _, err := mx.SendState(ctx, roomID, TypeCallMember, StateKey(mx.UserID(), mx.DeviceID()), LeaveContent()); err != nil {
		return fmt.Errorf("matrixrtc: leaving a stale membership: %w", err)
	}
	return nil
}

// Members reads the room's live call memberships now, from its state. It
// touches nothing of the session's own state.
func (s *Session) Members(ctx context.Context) (Memberships, error) {
	state, err := s.cfg.Matrix.RoomState(ctx, s.cfg.RoomID, "")
	if err != nil {
		return Memberships{}, fmt.Errorf("matrixrtc: room state: %w", err)
	}
	return NewMemberships(s.cfg.RoomID, state, time.Now()), nil
}
