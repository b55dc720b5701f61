package backend

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/matrixrtc"
	"github.com/mxcall/mxcall/media"
	"github.com/mxcall/mxcall/ui"
)

// rtcIDPrefix starts the IDs of MatrixRTC calls ("rtc:" + room ID + ":" +
// a counter); calls are routed by looking the ID up, never by its form, so
// a legacy call ID of the same shape cannot be mistaken for one.
const rtcIDPrefix = "rtc:"

// rtcLeaveTimeout bounds the leave of a stale membership.
const rtcLeaveTimeout = 15 * time.Second

// rtcSession is what a MatrixRTC call needs of a *matrixrtc.Session; unit
// tests fake it.
type rtcSession interface {
	Join(ctx context.Context) error
	JoinRinging(ctx context.Context, ring matrixrtc.RingOptions) (notificationID string, err error)
	// PublishScreenshare and UnpublishScreenshare start and stop our
	// screen share (rtcshare.go).
	PublishScreenshare(ctx context.Context, track webrtc.TrackLocal) error
	UnpublishScreenshare(ctx context.Context) error
	// SetMuted signals our microphone's or camera's mute to the call
	// without waiting.
	SetMuted(kind webrtc.RTPCodecType, muted bool) error
	// Close leaves (when joined) and stops the session; idempotent.
	Close() error
}

// rtcConfig is what the MatrixRTC calls need of the rest of the backend.
type rtcConfig struct {
	log *slog.Logger
	// matrix sends declines; sessions reach Matrix through it too.
	matrix matrixrtc.Matrix
	// newSession builds a session (matrixrtc.NewSession; tests fake it).
	newSession func(matrixrtc.SessionConfig) (rtcSession, error)
	// discovery finds the focus (sessions use it).
	discovery matrixrtc.Discovery
	// newSource opens camera and microphone (or the test pattern).
	newSource func(video bool) (*media.Source, error)
	// newScreen opens a screen or window for sharing (rtcshare.go).
	newScreen ScreenCapture
	// speaker is the chosen speaker's device ID.
	speaker func() string
	// onUpdate receives every call snapshot (Calls' subscribers).
	onUpdate func(callengine.CallInfo)
	// onParticipants is told when a call's Participants change.
	onParticipants func(callID string)
	// shareReleased is told when a peer's screen share ended and its
	// pipeline was closed (Config.ShareReleased); nil: nothing.
	shareReleased func()
	// ringLifetime is how long our rings last (default
	// matrixrtc.DefaultRingLifetime).
	ringLifetime time.Duration
	// encrypted reports whether a room is end-to-end encrypted: its call's
	// media is then encrypted end to end too (per-participant keys).
	encrypted func(roomID string) bool
	// toDevice sends our media keys Olm-encrypted; nil (a build without
	// end-to-end encryption) means we cannot encrypt media, and never join
	// an encrypted room's call.
	toDevice matrixrtc.ToDevice
	// members returns the live memberships of a room's call (our first
	// key goes to those already in it).
	members func(roomID string) []matrixrtc.Membership
	// displayNames returns a room's members' display names by user ID
	// (nil, or a user missing: tiles show the user ID).
	displayNames func(roomID string) map[string]string
}

// rtcCalls are the MatrixRTC calls: DM calls we place (they ring), rooms'
// calls we join, and incoming rings. Each call's state is owned by its own
// goroutine (rtcCall.run); this type only keeps the index.
type rtcCalls struct {
	cfg rtcConfig

	mu       sync.Mutex
	calls    map[string]*rtcCall
	seq      int
	closed   bool
	clearing map[string]chan struct{} // rooms whose stale membership of ours is being left (closed when done)
	wg       sync.WaitGroup           // the calls' goroutines and stale leaves
}

func newRTCCalls(cfg rtcConfig) *rtcCalls {
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	if cfg.ringLifetime <= 0 {
		cfg.ringLifetime = matrixrtc.DefaultRingLifetime
	}
	if cfg.speaker == nil {
		cfg.speaker = func() string { return "" }
	}
	if cfg.encrypted == nil {
		cfg.encrypted = func(string) bool { return true } // safe side
	}
	return &rtcCalls{cfg: cfg, calls: make(map[string]*rtcCall), clearing: make(map[string]chan struct{})}
}

// rtcCall is one MatrixRTC call. Its run goroutine owns the fields marked
// so; media and the participant list have their own locks because LiveKit
// and UI goroutines touch them.
type rtcCall struct {
	r    *rtcCalls
	id   string
	room string
	// dm: a one-to-one call with info.Peer; it ends when the peer, having
	// been in the call, leaves it.
	dm    bool
	cmds  chan func()
	ended chan struct{} // closed when the state becomes Ended
	done  chan struct{} // closed once everything is released

	// Owned by run.
	info         callengine.CallInfo
	sess         rtcSession
	joinCancel   context.CancelFunc
	ring         matrixrtc.Ring // the incoming ring we show
	notification string         // the event ID of our ring
	ringTimer    *time.Timer
	peerSeen     bool // the DM peer has been in the call
	endErr       error
	screen       ScreenTrack // our screen share while we share

	media *rtcMedia
	// crypto encrypts our media and decrypts the others' in an encrypted
	// room (nil in a plain one); set once, when we start or answer.
	crypto atomic.Pointer[rtcCrypto]

	pmu        sync.Mutex
	parts      []matrixrtc.Participant // remote, as LiveKit reports them
	audioMuted bool                    // ours, for our tile
	videoMuted bool
}

// rtcMedia is a call's media: our Source and, per remote participant
// (LiveKit identity), its sinks and speaker. Like callMedia, what is set
// after close is closed at once.
type rtcMedia struct {
	frames *frameSource // the first remote picture (Media.RemoteVideo)

	mu    sync.Mutex
	start time.Time
	src   *media.Source
	video bool // src sends video
	peers map[string]*callMedia
	// plain lists members whose media came unencrypted into an encrypted
	// call (the call view must not say "end-to-end encrypted").
	plain  map[string]bool
	closed bool
}

func newRTCMedia() *rtcMedia {
	return &rtcMedia{frames: newFrameSource(), peers: make(map[string]*callMedia)}
}

// setSource makes src the call's source (sending video or not); false
// (src closed) once released.
func (m *rtcMedia) setSource(src *media.Source, start time.Time, video bool) bool {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		_ = src.Close()
		return false
	}
	old := m.src
	m.src, m.start, m.video = src, start, video
	m.mu.Unlock()
	if old != nil && old != src {
		_ = old.Close()
	}
	return true
}

// sending returns the source and whether it sends video.
func (m *rtcMedia) sending() (*media.Source, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.src, m.video
}

func (m *rtcMedia) source() *media.Source {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.src
}

// peer returns (creating) the media record of a remote participant; nil
// once released.
func (m *rtcMedia) peer(identity string) *callMedia {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	p := m.peers[identity]
	if p == nil {
		p = newCallMedia()
		p.start = m.start
		m.peers[identity] = p
	}
	return p
}

// frameSourceOf returns a participant's picture, nil when it has none.
func (m *rtcMedia) frameSourceOf(identity string) ui.FrameSource {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.peers[identity]; p != nil {
		p.mu.Lock()
		hasVideo := p.video != nil
		p.mu.Unlock()
		if hasVideo {
			return p.frames
		}
	}
	return nil
}

// identities returns the remote participants that sent us media, sorted.
func (m *rtcMedia) identities() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.peers))
	for id := range m.peers {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// setMainPicture makes slot the call's remote picture (RemoteVideo) unless
// it has one: the first participant's video is what a one-to-one view
// shows.
func (m *rtcMedia) setMainPicture(slot *media.FrameSlot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.frames.mu.Lock()
	if m.frames.slot == nil {
		m.frames.slot = slot
	}
	m.frames.mu.Unlock()
}

// close releases every participant's sinks and speakers, then the source.
// Idempotent.
// markPlain notes that identity sends unencrypted media.
func (m *rtcMedia) markPlain(identity string) {
	m.mu.Lock()
	if m.plain == nil {
		m.plain = map[string]bool{}
	}
	m.plain[identity] = true
	m.mu.Unlock()
}

func (m *rtcMedia) isPlain(identity string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.plain[identity]
}

// dropPeer releases the media of key (a participant, or a participant's
// screen share) if it is still p.
func (m *rtcMedia) dropPeer(key string, p *callMedia) {
	m.mu.Lock()
	if m.peers[key] != p {
		p = nil
	} else {
		delete(m.peers, key)
	}
	m.mu.Unlock()
	if p != nil {
		p.close()
	}
}

func (m *rtcMedia) close() {
	m.mu.Lock()
	peers, src := m.peers, m.src
	m.peers, m.src, m.closed = map[string]*callMedia{}, nil, true
	m.mu.Unlock()
	for _, p := range peers {
		p.close()
	}
	if src != nil {
		_ = src.Close()
	}
	m.frames.set(nil)
}

// ---- the index ----

// newCall registers a call in room and starts its goroutine; nil once
// closed.
func (r *rtcCalls) newCall(room, peer string, dm bool, dir callengine.Direction, st callengine.State, video bool) *rtcCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.seq++
	c := &rtcCall{
		r: r, id: rtcIDPrefix + room + ":" + strconv.Itoa(r.seq), room: room, dm: dm,
		cmds: make(chan func()), ended: make(chan struct{}), done: make(chan struct{}),
		media: newRTCMedia(),
		info:  callengine.CallInfo{RoomID: room, Peer: peer, Direction: dir, State: st, Video: video, Created: time.Now()},
	}
	c.info.ID = c.id
	r.calls[c.id] = c
	r.wg.Add(1)
	go c.run()
	return c
}

func (r *rtcCalls) get(id string) *rtcCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[id]
}

// has reports whether id is a live MatrixRTC call of ours.
func (r *rtcCalls) has(id string) bool { return r.get(id) != nil }

func (r *rtcCalls) forget(c *rtcCall) {
	r.mu.Lock()
	if r.calls[c.id] == c {
		delete(r.calls, c.id)
	}
	r.mu.Unlock()
}

// all returns the live calls.
func (r *rtcCalls) all() []*rtcCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*rtcCall, 0, len(r.calls))
	for _, c := range r.calls {
		out = append(out, c)
	}
	return out
}

// inRoom returns the live calls of room.
func (r *rtcCalls) inRoom(room string) []*rtcCall {
	var out []*rtcCall
	for _, c := range r.all() {
		if c.room == room {
			out = append(out, c)
		}
	}
	return out
}

// endAll hangs up every call and waits until each has released its media.
func (r *rtcCalls) endAll() {
	for _, c := range r.all() {
		c.post(func() { c.end(callengine.PartyLocal, callengine.ReasonUserHangup) })
		<-c.done
	}
}

// close ends every call, refuses new ones and waits for their goroutines.
// Idempotent.
func (r *rtcCalls) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.endAll()
	r.wg.Wait()
}

// anySource returns the media source of some live call (for LocalVideo).
func (r *rtcCalls) anySource() *media.Source {
	for _, c := range r.all() {
		if src := c.media.source(); src != nil {
			return src
		}
	}
	return nil
}

// ---- placing, joining, answering ----

// place starts a call in the DM roomID with peer: it joins the room's call
// and rings (the callee's phone rings for ringLifetime). It returns once
// the ring is out (or the join failed, with the call ended).
func (r *rtcCalls) place(ctx context.Context, roomID, peer string, video bool) (string, error) {
	return r.start(ctx, roomID, peer, true, video, true)
}

// join joins roomID's call (a group room, or a DM's call already running:
// then peer is the DM's other member). No ring.
func (r *rtcCalls) join(ctx context.Context, roomID, peer string, video bool) (string, error) {
	return r.start(ctx, roomID, peer, peer != "", video, false)
}

func (r *rtcCalls) start(ctx context.Context, roomID, peer string, dm, video, ring bool) (string, error) {
	encrypted := r.cfg.encrypted(roomID)
	if encrypted && r.cfg.toDevice == nil {
		return "", ErrEncryptedCall
	}
	start := time.Now()
	src, err := r.cfg.newSource(video)
	if err != nil {
		return "", fmt.Errorf("backend: camera/microphone: %w", err)
	}
	c := r.newCall(roomID, peer, dm, callengine.Outgoing, callengine.StateGathering, video)
	if c == nil {
		_ = src.Close()
		return "", ErrNotLoggedIn
	}
	if encrypted {
		if err := c.encrypt(src); err != nil { //nolint:contextcheck // keys are sent for the call's lifetime, not the request's
			_ = src.Close()
			c.post(func() { c.fail(err) })
			return "", err
		}
	}
	c.media.setSource(src, start, video)
	res := make(chan error, 1)
	if !c.post(func() { //nolint:contextcheck // the call outlives the request that placed it
		c.update()
		if err := c.startSession(video, ring, res); err != nil {
			c.fail(err)
			res <- err
		}
	}) {
		return "", callengine.ErrClosed
	}
	return c.id, c.waitJoin(ctx, res)
}

// answer joins the call an incoming ring is for.
func (r *rtcCalls) answer(ctx context.Context, callID string, video bool) error {
	c := r.get(callID)
	if c == nil {
		return fmt.Errorf("backend: answer %s: %w", callID, callengine.ErrNoSuchCall)
	}
	encrypted := r.cfg.encrypted(c.room)
	if encrypted && r.cfg.toDevice == nil {
		return ErrEncryptedCall
	}
	start := time.Now()
	src, err := r.cfg.newSource(video)
	if err != nil {
		return fmt.Errorf("backend: camera/microphone: %w", err)
	}
	if encrypted {
		if err := c.encrypt(src); err != nil { //nolint:contextcheck // keys are sent for the call's lifetime, not the request's
			_ = src.Close()
			return err
		}
	}
	if !c.media.setSource(src, start, video) {
		return fmt.Errorf("backend: answer %s: %w", callID, callengine.ErrNoSuchCall)
	}
	res := make(chan error, 1)
	err = c.exec(ctx, func() error { //nolint:contextcheck // the call outlives the request that answered it
		if c.info.State != callengine.StateRinging {
			return fmt.Errorf("backend: answer %s (%v): %w", callID, c.info.State, callengine.ErrWrongState)
		}
		c.info.State, c.info.Video = callengine.StateAnswering, video
		c.update()
		if err := c.startSession(video, false, res); err != nil {
			c.fail(err)
			return err
		}
		return nil
	})
	if err != nil {
		c.media.mu.Lock()
		mine := c.media.src == src
		if mine {
			c.media.src = nil
		}
		c.media.mu.Unlock()
		if mine {
			_ = src.Close()
		}
		return err
	}
	return c.waitJoin(ctx, res)
}

// waitJoin waits for the join (and ring) to finish; a done ctx gives up
// waiting but leaves the call running.
func (c *rtcCall) waitJoin(ctx context.Context, res <-chan error) error {
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reject declines an incoming ring (MSC4310) and ends the call here.
func (r *rtcCalls) reject(ctx context.Context, callID string) error {
	c := r.get(callID)
	if c == nil {
		return fmt.Errorf("backend: reject %s: %w", callID, callengine.ErrNoSuchCall)
	}
	var ring matrixrtc.Ring
	err := c.exec(ctx, func() error {
		if c.info.State != callengine.StateRinging {
			c.end(callengine.PartyLocal, callengine.ReasonUserHangup)
			return nil
		}
		ring = c.ring
		c.end(callengine.PartyLocal, callengine.ReasonRejected)
		return nil
	})
	if err != nil || ring.EventID == "" {
		return err
	}
	return matrixrtc.Decline(ctx, r.cfg.matrix, ring)
}

// hangup leaves the call (a ringing one is declined).
func (r *rtcCalls) hangup(ctx context.Context, callID string) error {
	c := r.get(callID)
	if c == nil {
		return fmt.Errorf("backend: hangup %s: %w", callID, callengine.ErrNoSuchCall)
	}
	var ringing bool
	err := c.exec(ctx, func() error {
		ringing = c.info.State == callengine.StateRinging
		if !ringing {
			c.end(callengine.PartyLocal, callengine.ReasonUserHangup)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if ringing {
		return r.reject(ctx, callID)
	}
	return nil // the call's goroutine leaves and releases it (Close waits for that)
}

// setMuted mutes our microphone or camera in callID.
func (r *rtcCalls) setMuted(ctx context.Context, callID string, video, muted bool) error {
	c := r.get(callID)
	if c == nil {
		return fmt.Errorf("backend: mute %s: %w", callID, callengine.ErrNoSuchCall)
	}
	if src := c.media.source(); src != nil {
		if video {
			src.SetVideoMuted(muted)
		} else {
			src.SetAudioMuted(muted)
		}
	}
	err := c.exec(ctx, func() error {
		if video {
			c.info.VideoMuted = muted
		} else {
			c.info.AudioMuted = muted
		}
		c.update()
		if c.sess == nil { // no session yet: startSession signals it
			return nil
		}
		kind := webrtc.RTPCodecTypeAudio
		if video {
			kind = webrtc.RTPCodecTypeVideo
		}
		if err := c.sess.SetMuted(kind, muted); err != nil {
			c.r.cfg.log.Warn("matrixrtc: signalling our mute", "call", callID, "err", err)
		}
		return nil
	})
	if err == nil {
		c.pmu.Lock()
		if video {
			c.videoMuted = muted
		} else {
			c.audioMuted = muted
		}
		c.pmu.Unlock()
		r.cfg.onParticipants(callID)
	}
	return err
}

// ---- what the Tracker reports (on its goroutine: never block) ----

// onRing shows an incoming ring as a ringing call, unless we are in a
// call of that room already.
func (r *rtcCalls) onRing(ring matrixrtc.Ring) {
	if len(r.inRoom(ring.RoomID)) > 0 {
		return
	}
	c := r.newCall(ring.RoomID, ring.Sender, true, callengine.Incoming, callengine.StateRinging, ring.Video)
	if c == nil {
		return
	}
	c.post(func() {
		c.ring = ring
		c.update()
	})
}

// onRingEnded ends the ringing call of ring (timed out, caller gone,
// answered or declined on another device).
func (r *rtcCalls) onRingEnded(ring matrixrtc.Ring, why matrixrtc.RingEnd) {
	for _, c := range r.inRoom(ring.RoomID) {
		c.post(func() {
			if c.info.State != callengine.StateRinging || c.ring.EventID != ring.EventID {
				return
			}
			switch why {
			case matrixrtc.RingAnsweredHere:
			case matrixrtc.RingTimedOut:
				c.end(callengine.PartyRemote, callengine.ReasonInviteTimeout)
			case matrixrtc.RingCallerLeft:
				c.end(callengine.PartyRemote, callengine.ReasonUserHangup)
			default: // answered or declined on another of our devices
				c.end(callengine.PartyRemote, callengine.ReasonAnsweredElsewhere)
			}
		})
	}
}

// onDeclined ends our ringing call when its callee declines.
func (r *rtcCalls) onDeclined(roomID, notificationID, sender string) {
	for _, c := range r.inRoom(roomID) {
		c.post(func() {
			if c.notification != notificationID || c.info.State == callengine.StateConnected || sender != c.info.Peer {
				return
			}
			c.end(callengine.PartyRemote, callengine.ReasonRejected)
		})
	}
}

// onMembers follows who is in a room's call: a DM call connects when the
// peer joins and ends when the peer, having joined, leaves. A membership
// of this device in a room where we have no call was left behind (the app
// crashed or was killed in a call): it is left, or others would see us in
// the call until it expires, hours later.
func (r *rtcCalls) onMembers(roomID string, members []matrixrtc.Membership) {
	calls := r.inRoom(roomID)
	for _, c := range calls {
		c.post(func() { c.members(members) })
	}
	me, dev := r.cfg.matrix.UserID(), r.cfg.matrix.DeviceID()
	for _, m := range members {
		if m.Sender == me && m.DeviceID == dev && len(calls) == 0 {
			r.leaveStale(roomID)
		}
	}
}

// leaveStale sends the leave of our stale membership in roomID in the
// background, unless a call of ours is in that room (checked under the
// lock that registers calls, and joins wait for the leave: waitClear, so
// the leave can never land after a new membership of ours).
func (r *rtcCalls) leaveStale(roomID string) {
	r.mu.Lock()
	if r.closed || r.clearing[roomID] != nil {
		r.mu.Unlock()
		return
	}
	for _, c := range r.calls {
		if c.room == roomID {
			r.mu.Unlock()
			return
		}
	}
	done := make(chan struct{})
	r.clearing[roomID] = done
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), rtcLeaveTimeout)
		defer cancel()
		err := matrixrtc.LeaveStale(ctx, r.cfg.matrix, roomID)
		r.cfg.log.Info("left a stale MatrixRTC membership of this device", "room", roomID, "err", err)
		r.mu.Lock()
		delete(r.clearing, roomID)
		r.mu.Unlock()
		close(done)
	}()
}

// waitClear waits until no stale leave of roomID is under way.
func (r *rtcCalls) waitClear(ctx context.Context, roomID string) {
	r.mu.Lock()
	done := r.clearing[roomID]
	r.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
}

// ---- one call (its goroutine) ----

func (c *rtcCall) run() {
	defer c.r.wg.Done()
	defer close(c.done)
	for {
		var ringC <-chan time.Time
		if c.ringTimer != nil {
			ringC = c.ringTimer.C
		}
		select {
		case fn := <-c.cmds:
			fn()
		case <-ringC:
			c.ringTimer = nil
			c.end(callengine.PartyLocal, callengine.ReasonInviteTimeout)
		}
		if c.info.State == callengine.StateEnded {
			c.release()
			return
		}
	}
}

// post hands fn to the call's goroutine; false once the call has ended.
func (c *rtcCall) post(fn func()) bool {
	select {
	case c.cmds <- fn:
		return true
	case <-c.ended:
		return false
	}
}

// exec runs fn on the call's goroutine and returns its error.
func (c *rtcCall) exec(ctx context.Context, fn func() error) error {
	res := make(chan error, 1)
	select {
	case c.cmds <- func() { res <- fn() }:
	case <-c.ended:
		return fmt.Errorf("backend: %s: %w", c.id, callengine.ErrNoSuchCall)
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-res
}

// update sends the call's snapshot to the subscribers.
func (c *rtcCall) update() { c.r.cfg.onUpdate(c.info) }

// startSession creates the session and joins (and rings) in the
// background; res receives the outcome.
func (c *rtcCall) startSession(video, ring bool, res chan<- error) error {
	intent := "audio"
	if video {
		intent = "video"
	}
	src := c.media.source()
	var tracks []webrtc.TrackLocal
	if src != nil {
		tracks = append(tracks, src.Audio())
		if video {
			tracks = append(tracks, src.Video())
		}
	}
	sess, err := c.r.cfg.newSession(matrixrtc.SessionConfig{
		Matrix: c.r.cfg.matrix, RoomID: c.room, Discovery: c.r.cfg.discovery, Intent: intent, Tracks: tracks,
		Encrypted:      c.crypto.Load() != nil,
		OnRemoteTrack:  c.onRemoteTrack,
		OnParticipants: c.setParticipants,
		OnEnded: func(err error) {
			c.post(func() {
				c.endErr = err
				c.end(callengine.PartyRemote, callengine.ReasonUnknownError)
			})
		},
		Log: c.r.cfg.log,
	})
	if err != nil {
		return err
	}
	c.sess = sess
	// Mutes made before the session existed (the session keeps them for
	// the room it joins).
	if c.info.AudioMuted {
		_ = sess.SetMuted(webrtc.RTPCodecTypeAudio, true)
	}
	if c.info.VideoMuted {
		_ = sess.SetMuted(webrtc.RTPCodecTypeVideo, true)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.joinCancel = cancel
	lifetime := c.r.cfg.ringLifetime
	go func() {
		c.r.waitClear(ctx, c.room) // our stale membership's leave first
		var notification string
		if ring {
			notification, err = sess.JoinRinging(ctx, matrixrtc.RingOptions{Video: video, Lifetime: lifetime})
		} else {
			err = sess.Join(ctx)
		}
		if !c.post(func() { c.joined(err, notification, lifetime) }) {
			err = nil // hung up meanwhile: the call exists, and has ended
		}
		res <- err
	}()
	return nil
}

// joined takes the outcome of the join (and ring).
func (c *rtcCall) joined(err error, notification string, lifetime time.Duration) {
	c.joinCancel()
	if err != nil {
		c.fail(err)
		return
	}
	if src := c.media.source(); src != nil {
		src.RequestKeyframe() // start others' pictures at once
	}
	switch {
	case notification != "" && !c.peerSeen:
		c.notification = notification
		c.info.State = callengine.StateInviteSent
		c.ringTimer = time.NewTimer(lifetime)
	case c.info.State != callengine.StateConnected:
		c.connected()
	}
	c.update()
}

// encrypt turns on media encryption for the call: src encrypts with our
// key, whose first version goes at once to those already in the call.
func (c *rtcCall) encrypt(src *media.Source) error {
	cr := c.crypto.Load()
	if cr == nil {
		var err error
		cr, err = newRTCCrypto(c.r.cfg.toDevice, c.room, c.r.cfg.matrix.UserID(), c.r.cfg.matrix.DeviceID(), c.r.cfg.log,
			func() { c.r.cfg.onParticipants(c.id) })
		if err != nil {
			return fmt.Errorf("backend: media encryption: %w", err)
		}
		if !c.crypto.CompareAndSwap(nil, cr) {
			cr.close()
			cr = c.crypto.Load()
		} else if c.r.cfg.members != nil {
			cr.keys.SetMembers(c.r.cfg.members(c.room))
		}
	}
	src.SetEncryption(cr.enc)
	return nil
}

// handleToDevice hands a decrypted to-device event (a member's media key)
// to the key managers of our encrypted calls; each takes only its room's.
func (r *rtcCalls) handleToDevice(ev matrixrtc.ToDeviceEvent) {
	for _, c := range r.all() {
		if cr := c.crypto.Load(); cr != nil {
			cr.keys.Handle(ev)
		}
	}
}

// connected moves the call to Connected.
func (c *rtcCall) connected() {
	c.info.State, c.info.ConnectedAt = callengine.StateConnected, time.Now()
	c.r.cfg.log.Info("call connected", "call_id", c.id, "room", c.room, "direction", c.info.Direction,
		"after", c.info.ConnectedAt.Sub(c.info.Created).Round(time.Millisecond), "matrixrtc", true)
}

// fail ends the call after a failed join.
func (c *rtcCall) fail(err error) {
	c.r.cfg.log.Warn("matrixrtc call failed", "call_id", c.id, "room", c.room, "err", err)
	c.endErr = err
	c.end(callengine.PartyLocal, callengine.ReasonUnknownError)
}

// members follows the call's members: our media key goes to those who
// join (and changes when someone leaves); a DM call follows the peer's
// membership.
func (c *rtcCall) members(ms []matrixrtc.Membership) {
	if cr := c.crypto.Load(); cr != nil && c.info.State != callengine.StateRinging {
		cr.keys.SetMembers(ms)
	}
	if !c.dm || c.info.State == callengine.StateRinging {
		return
	}
	in := false
	for _, m := range ms {
		in = in || m.Sender == c.info.Peer
	}
	switch {
	case in && !c.peerSeen:
		c.peerSeen = true
		c.stopRingTimer()
		if c.info.State == callengine.StateInviteSent {
			c.connected()
			c.update()
		}
	case !in && c.peerSeen:
		c.end(callengine.PartyRemote, callengine.ReasonUserHangup)
	}
}

func (c *rtcCall) stopRingTimer() {
	if c.ringTimer != nil {
		c.ringTimer.Stop()
		c.ringTimer = nil
	}
}

// end moves the call to Ended (run then releases it). Idempotent.
func (c *rtcCall) end(by callengine.Party, why callengine.EndReason) {
	if c.info.State == callengine.StateEnded {
		return
	}
	c.stopRingTimer()
	if c.joinCancel != nil {
		c.joinCancel()
	}
	c.info.State, c.info.EndedBy, c.info.EndReason = callengine.StateEnded, by, why
	close(c.ended)
	c.r.cfg.log.Info("matrixrtc call ended", "call_id", c.id, "by", by, "reason", why, "err", c.endErr)
	c.update()
}

// release leaves the call (the session's Close sends the leave and
// disconnects from LiveKit, which ends the remote tracks), then closes
// sinks, speakers and our source, and forgets the call.
func (c *rtcCall) release() {
	if c.sess != nil {
		_ = c.sess.Close()
	}
	if c.screen != nil {
		_ = c.screen.Close()
		c.screen = nil
	}
	c.media.close()
	if cr := c.crypto.Load(); cr != nil {
		cr.close()
	}
	c.r.forget(c)
	c.r.cfg.onParticipants(c.id)
}

// ---- media of one call (LiveKit goroutines) ----

// onRemoteTrack decodes a subscribed track on a goroutine of its own
// (LiveKit's callback must not block).
func (c *rtcCall) onRemoteTrack(rt matrixrtc.RemoteTrack) {
	go c.decode(rt)
}

// decode gives a remote track its sink: video into the participant's
// frame slot (key frames asked for through the SFU), audio into a player
// of its own. Each participant's audio plays on its own player: the OS's
// sound server mixes them (a mixer of our own is future work).
func (c *rtcCall) decode(rt matrixrtc.RemoteTrack) {
	log := c.r.cfg.log
	var opts []media.SinkOption
	cr := c.crypto.Load()
	switch {
	case rt.Encrypted && cr == nil:
		// Encrypted frames with no key exchange in a plain room: decoding
		// them would only paint garbage.
		log.Warn("ignoring an encrypted track in a call without media encryption", "call_id", c.id, "identity", rt.Identity)
		return
	case rt.Encrypted:
		dec := cr.decryptor(rt.Identity)
		dec.SetSIFTrailer(rt.SIFTrailer)
		opts = append(opts, media.WithDecryptor(dec))
	case cr != nil:
		log.Warn("a member sends unencrypted media into an encrypted call", "call_id", c.id, "identity", rt.Identity)
		c.media.markPlain(rt.Identity)
	}
	key := rt.Identity
	if rt.Screen {
		key = screenKey(rt.Identity)
	}
	p := c.media.peer(key)
	if p == nil {
		return // released meanwhile
	}
	switch rt.Track.Kind() {
	case webrtc.RTPCodecTypeVideo:
		pli := func([]rtcp.Packet) error {
			if rt.RequestKeyframe != nil {
				rt.RequestKeyframe()
			}
			return nil
		}
		sink, err := media.NewVideoSink(rt.Track, pli, opts...)
		if err != nil {
			log.Warn("remote video", "identity", rt.Identity, "err", err)
			return
		}
		start, ok := p.setVideo(sink)
		if !ok {
			return
		}
		p.frames.set(sink.Frames())
		if !rt.Screen {
			c.media.setMainPicture(sink.Frames())
		}
		c.r.cfg.onParticipants(c.id)
		select {
		case <-sink.Frames().Updated():
			logFirstFrame(log.With("call_id", c.id, "identity", rt.Identity, "screen", rt.Screen), sink, start)
		case <-sink.Done():
		}
		if rt.Screen {
			// The share's tile goes when the share stops.
			select {
			case <-rt.Ended:
			case <-sink.Done():
			}
			log.Info("remote screen share ended", "call_id", c.id, "identity", rt.Identity)
			c.media.dropPeer(key, p)
			c.r.cfg.onParticipants(c.id)
			if c.r.cfg.shareReleased != nil {
				c.r.cfg.shareReleased()
			}
		}
	case webrtc.RTPCodecTypeAudio:
		player, err := media.NewPlayer(c.r.cfg.speaker())
		if err != nil {
			player, err = media.NewPlayer("")
		}
		if err != nil {
			log.Warn("speaker", "err", err)
			return
		}
		sink, err := media.NewAudioSink(rt.Track, player, opts...)
		if err != nil {
			_ = player.Close()
			log.Warn("remote audio", "identity", rt.Identity, "err", err)
			return
		}
		p.setAudio(sink, player)
	}
}

// setParticipants keeps LiveKit's list of remote participants.
func (c *rtcCall) setParticipants(ps []matrixrtc.Participant) {
	c.pmu.Lock()
	c.parts = append([]matrixrtc.Participant(nil), ps...)
	c.pmu.Unlock()
	c.r.cfg.onParticipants(c.id)
}

// participants returns the call's tiles, ours first.
func (c *rtcCall) participants() []ui.Participant {
	cr := c.crypto.Load()
	var names map[string]string // display names, read once for all tiles
	if c.r.cfg.displayNames != nil {
		names = c.r.cfg.displayNames(c.room)
	}
	me := ui.Participant{ID: c.r.cfg.matrix.UserID() + ":" + c.r.cfg.matrix.DeviceID(), Name: cmp.Or(names[c.r.cfg.matrix.UserID()], c.r.cfg.matrix.UserID()), Local: true,
		Encrypted: cr != nil}
	// Each remote tile's encryption: with media encryption on, a member is
	// encrypted unless its media came in the clear, and waits for its key
	// until the key arrived.
	crypt := func(t *ui.Participant) {
		if cr != nil && !c.media.isPlain(t.ID) {
			t.Encrypted, t.WaitingForKey = true, !cr.hasKey(t.ID)
		}
	}
	if src, video := c.media.sending(); src != nil && video && src.Preview() != nil {
		me.Video = slotSource(src.Preview())
	}
	c.pmu.Lock()
	parts := c.parts
	me.AudioMuted, me.VideoMuted = c.audioMuted, c.videoMuted
	c.pmu.Unlock()
	out := []ui.Participant{me}
	listed := make(map[string]bool, len(parts))
	var screens []ui.Participant
	for _, p := range parts {
		listed[p.Identity] = true
		name := cmp.Or(names[p.UserID], p.Name, p.UserID, p.Identity)
		t := ui.Participant{
			ID: p.Identity, Name: name, Video: c.media.frameSourceOf(p.Identity),
			AudioMuted: p.AudioMuted, VideoMuted: p.VideoMuted, Speaking: p.Speaking,
		}
		crypt(&t)
		out = append(out, t)
		if src := c.media.frameSourceOf(screenKey(p.Identity)); src != nil {
			screens = append(screens, ui.Participant{ID: screenKey(p.Identity), Name: name, Video: src, Screen: true,
				Encrypted: t.Encrypted, WaitingForKey: t.WaitingForKey})
		}
	}
	// Publishers whose tracks came before LiveKit's list named them.
	for _, id := range c.media.identities() {
		if !listed[id] && !isScreenKey(id) {
			t := ui.Participant{ID: id, Name: cmp.Or(names[userOf(id)], userOf(id)), Video: c.media.frameSourceOf(id)}
			crypt(&t)
			out = append(out, t)
		}
	}
	// Shares come after the people: the grid shows them large anyway.
	return append(out, screens...)
}

// userOf is the user ID in a LiveKit identity of the "@user:server:DEVICE"
// form, else the identity.
func userOf(identity string) string {
	if i := strings.LastIndexByte(identity, ':'); strings.HasPrefix(identity, "@") && i > strings.IndexByte(identity, ':') {
		return identity[:i]
	}
	return identity
}
