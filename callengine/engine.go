package callengine

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// endedRetention is how long an ended call is remembered, so that late or
// repeated events for it (a re-dispatched invite, say) never ring again.
const endedRetention = 10 * time.Minute

// Engine routes call events to calls and runs at most one call at a time.
// It is safe for concurrent use. Its methods that act on a call wait for
// the call's goroutine; if ctx ends first they return its error, wrapped.
type Engine struct {
	userID  string
	partyID string
	sig     Signaller
	opts    options
	api     *webrtc.API

	updates *mailbox // snapshots to opts.onUpdate, in order
	wg      sync.WaitGroup
	// sendCtx bounds event sends; cancelled when Close gives up waiting.
	sendCtx    context.Context
	sendCancel context.CancelFunc

	mu         sync.Mutex
	calls      map[string]*Call // by call_id, ended ones kept endedRetention
	early      map[string][]earlyEvent
	iceServers []webrtc.ICEServer
	closed     bool
}

// New creates an engine for userID that sends events through sig.
func New(userID string, sig Signaller, opts ...Option) (*Engine, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if userID == "" || sig == nil {
		return nil, fmt.Errorf("%w: New needs a user ID and a Signaller", ErrInvalidArgument)
	}
	if o.partyID == "" {
		o.partyID = randomID(16)
	}
	if !ValidID(o.partyID) {
		return nil, fmt.Errorf("%w: %w: party_id %q", ErrInvalidArgument, ErrInvalidID, o.partyID)
	}
	api := o.api
	if api == nil {
		var err error
		if api, err = NewAPI(o.settingEngine, nil, nil); err != nil {
			return nil, err
		}
	}
	e := &Engine{
		userID:     userID,
		partyID:    o.partyID,
		sig:        sig,
		opts:       o,
		api:        api,
		updates:    newMailbox(),
		calls:      make(map[string]*Call),
		early:      make(map[string][]earlyEvent),
		iceServers: o.iceServers,
	}
	e.sendCtx, e.sendCancel = context.WithCancel(context.Background())
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.updates.run(nil)
	}()
	return e, nil
}

// NewAPI builds a pion API for WithAPI: the codecs registerCodecs adds
// (nil: pion's defaults), the default interceptors (NACK, RTCP reports,
// TWCC feedback), then whatever addInterceptors adds (may be nil; for
// example bandwidth estimation), with the given setting engine (may be nil).
// The ICE acceptance waits of the setting engine are replaced by the
// engine's (see iceAcceptanceWait), so relay calls connect without pion's
// 2 s wait; everything else in it is kept.
func NewAPI(se *webrtc.SettingEngine, registerCodecs func(*webrtc.MediaEngine) error,
	addInterceptors func(*webrtc.MediaEngine, *interceptor.Registry) error,
) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if registerCodecs == nil {
		registerCodecs = (*webrtc.MediaEngine).RegisterDefaultCodecs
	}
	if err := registerCodecs(m); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	if addInterceptors != nil {
		if err := addInterceptors(m, ir); err != nil {
			return nil, err
		}
	}
	var s webrtc.SettingEngine
	if se != nil {
		s = *se
	}
	setICEAcceptanceWaits(&s)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(s)), nil
}

// iceAcceptanceWait is how long after its connectivity checks start the
// controlling ICE agent (the caller's: pion makes the offerer controlling)
// waits before it may nominate a server-reflexive, peer-reflexive or relay
// pair; host pairs may be nominated at once. It always nominates the best
// pair that has succeeded, so the wait is the grace a better pair gets to
// succeed: checks go out every 200 ms, so 400 ms covers a first check that
// was lost (a NAT not yet open) and its retry. pion's defaults (srflx
// 500 ms, prflx 1 s, relay 2 s, even with a relay-only policy) held a call
// whose only working path is a TURN relay for 2 s.
const iceAcceptanceWait = 400 * time.Millisecond

// setICEAcceptanceWaits applies iceAcceptanceWait to se.
func setICEAcceptanceWaits(se *webrtc.SettingEngine) {
	se.SetHostAcceptanceMinWait(0)
	se.SetSrflxAcceptanceMinWait(iceAcceptanceWait)
	se.SetPrflxAcceptanceMinWait(iceAcceptanceWait)
	se.SetRelayAcceptanceMinWait(iceAcceptanceWait)
}

// PartyID returns this device's party_id.
func (e *Engine) PartyID() string { return e.partyID }

// UserID returns the user this engine calls as.
func (e *Engine) UserID() string { return e.userID }

// SetICEServers replaces the STUN/TURN servers (for example after a TURN
// credential refresh), for new calls and the next ICE restart of the call
// in progress.
func (e *Engine) SetICEServers(servers []webrtc.ICEServer) {
	e.mu.Lock()
	e.iceServers = append([]webrtc.ICEServer(nil), servers...)
	active := e.activeLocked()
	e.mu.Unlock()
	if active != nil {
		// The call in progress uses them at its next ICE restart.
		active.post(active.refreshICEServers)
	}
}

func (e *Engine) rtcConfig() webrtc.Configuration {
	e.mu.Lock()
	defer e.mu.Unlock()
	cfg := webrtc.Configuration{
		ICEServers:   append([]webrtc.ICEServer(nil), e.iceServers...),
		BundlePolicy: webrtc.BundlePolicyMaxBundle,
	}
	if e.opts.relayOnly {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	return cfg
}

// PlaceCall starts an outgoing call to peer in roomID and returns its call
// ID. The call proceeds in the background; follow it through OnUpdate.
func (e *Engine) PlaceCall(ctx context.Context, roomID, peer string, video bool, m Media) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return "", ErrClosed
	}
	if c := e.activeLocked(); c != nil {
		return "", fmt.Errorf("%w: %s", ErrBusy, c.id)
	}
	e.pruneLocked()
	id := "mx" + randomID(22)
	c := newCall(e, id, roomID, peer, Outgoing, video)
	e.calls[id] = c
	// The call outlives ctx; its sends are bounded by the engine's context.
	c.start(func() { c.startOutgoing(m) }) //nolint:contextcheck // see above
	return id, nil
}

// Answer answers the ringing call callID, sending m's tracks.
func (e *Engine) Answer(ctx context.Context, callID string, video bool, m Media) error {
	c, err := e.call(callID)
	if err != nil {
		return err
	}
	return c.exec(ctx, func() error { return c.answer(video, m) })
}

// Reject declines the ringing call callID on all our devices.
func (e *Engine) Reject(ctx context.Context, callID string) error {
	c, err := e.call(callID)
	if err != nil {
		return err
	}
	return c.exec(ctx, func() error { c.reject(); return nil })
}

// Hangup ends callID with reason user_hangup (a ringing call is rejected).
func (e *Engine) Hangup(ctx context.Context, callID string) error {
	c, err := e.call(callID)
	if err != nil {
		return err
	}
	return c.exec(ctx, func() error { c.hangup(ReasonUserHangup); return nil })
}

// HangupWithReason ends callID with one of the spec's hangup reasons, for
// example ReasonUserMediaFailed when capture broke mid-call; any other
// reason is ErrInvalidArgument.
func (e *Engine) HangupWithReason(ctx context.Context, callID string, reason EndReason) error {
	if hangupReason(reason) != reason {
		return fmt.Errorf("%w: hangup reason %q", ErrInvalidArgument, reason)
	}
	c, err := e.call(callID)
	if err != nil {
		return err
	}
	return c.exec(ctx, func() error { c.hangup(reason); return nil })
}

// SetAudioMuted mutes or unmutes our microphone in callID and tells the peer.
func (e *Engine) SetAudioMuted(ctx context.Context, callID string, muted bool) error {
	c, err := e.call(callID)
	if err != nil {
		return err
	}
	return c.exec(ctx, func() error { return c.setMuted(webrtc.RTPCodecTypeAudio, muted) })
}

// SetVideoMuted turns our camera off or on in callID and tells the peer.
func (e *Engine) SetVideoMuted(ctx context.Context, callID string, muted bool) error {
	c, err := e.call(callID)
	if err != nil {
		return err
	}
	return c.exec(ctx, func() error { return c.setMuted(webrtc.RTPCodecTypeVideo, muted) })
}

// SetHold puts callID on hold (we stop sending) or resumes it, by
// renegotiation.
func (e *Engine) SetHold(ctx context.Context, callID string, hold bool) error {
	c, err := e.call(callID)
	if err != nil {
		return err
	}
	return c.exec(ctx, func() error { return c.setHold(hold) })
}

// ReplaceTrack swaps the local track of the same kind (a device switch)
// without renegotiation; if the call has no track of that kind yet (a
// voice call getting video), the track is added and the call renegotiated.
// A nil track is ErrInvalidArgument.
func (e *Engine) ReplaceTrack(ctx context.Context, callID string, t webrtc.TrackLocal) error {
	if t == nil {
		return fmt.Errorf("%w: nil track", ErrInvalidArgument)
	}
	c, err := e.call(callID)
	if err != nil {
		return err
	}
	return c.exec(ctx, func() error { return c.replaceTrack(t) })
}

// StartScreenshare sends t, a video track, as a screen share in callID:
// a second video sender in t's own stream (its StreamID must differ from
// the camera's), listed in sdp_stream_metadata with purpose
// m.screenshare, added by renegotiation (m.call.negotiate). The call must
// be connecting or connected and not already sharing (ErrWrongState). The
// track stays the caller's: the engine unbinds it when the share stops or
// the call ends, and never closes it. Hold holds the share with the rest.
func (e *Engine) StartScreenshare(ctx context.Context, callID string, t webrtc.TrackLocal) error {
	if t == nil || t.Kind() != webrtc.RTPCodecTypeVideo {
		return fmt.Errorf("%w: a screen share needs a video track", ErrInvalidArgument)
	}
	c, err := e.call(callID)
	if err != nil {
		return err
	}
	return c.exec(ctx, func() error { return c.startScreenshare(t) })
}

// StopScreenshare stops our screen share in callID by renegotiation; the
// metadata no longer lists its stream. Without a share it does nothing.
func (e *Engine) StopScreenshare(ctx context.Context, callID string) error {
	c, err := e.call(callID)
	if err != nil {
		return err
	}
	return c.exec(ctx, c.stopScreenshare)
}

// RestartICE starts an ICE restart in callID (for example after the
// network changed).
func (e *Engine) RestartICE(ctx context.Context, callID string) error {
	c, err := e.call(callID)
	if err != nil {
		return err
	}
	return c.exec(ctx, c.restartICE)
}

// Call returns the latest snapshot of callID.
func (e *Engine) Call(callID string) (CallInfo, bool) {
	e.mu.Lock()
	c := e.calls[callID]
	e.mu.Unlock()
	if c == nil {
		return CallInfo{}, false
	}
	return c.Info(), true
}

// Active returns the call in progress, if any.
func (e *Engine) Active() (CallInfo, bool) {
	e.mu.Lock()
	c := e.activeLocked()
	e.mu.Unlock()
	if c == nil {
		return CallInfo{}, false
	}
	return c.Info(), true
}

// PeerLeft ends the calls in roomID with userID: a peer that leaves the
// room hangs up.
func (e *Engine) PeerLeft(ctx context.Context, roomID, userID string) {
	e.mu.Lock()
	var hit []*Call
	for _, c := range e.calls {
		if c.roomID == roomID && c.peer == userID && !c.ended() {
			hit = append(hit, c)
		}
	}
	e.mu.Unlock()
	for _, c := range hit {
		_ = c.exec(ctx, func() error {
			c.end(PartyRemote, ReasonUserHangup)
			return nil
		})
	}
}

// Close hangs up every call, releases every peer connection and stops the
// engine's goroutines. It is idempotent. It bounds its own hangups (5 s),
// so it takes no context.
//
//nolint:contextcheck // a closer has no caller context by design
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	calls := make([]*Call, 0, len(e.calls))
	for _, c := range e.calls {
		calls = append(calls, c)
	}
	e.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range calls {
		_ = c.exec(ctx, func() error { c.hangup(ReasonUserHangup); return nil })
	}
	for _, c := range calls {
		select {
		case <-c.finished:
		case <-ctx.Done():
		}
	}
	e.sendCancel()
	for _, c := range calls {
		<-c.finished
	}
	e.updates.close()
	e.wg.Wait()
	return nil
}

func (e *Engine) call(callID string) (*Call, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	c := e.calls[callID]
	if c == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchCall, callID)
	}
	return c, nil
}

func (e *Engine) activeLocked() *Call {
	for _, c := range e.calls {
		if !c.ended() {
			return c
		}
	}
	return nil
}

func (e *Engine) pruneLocked() {
	now := e.opts.now()
	for id, c := range e.calls {
		if inf := c.Info(); inf.State == StateEnded && now.Sub(c.endedAt()) > endedRetention {
			delete(e.calls, id)
		}
	}
}

func (e *Engine) publish(ci CallInfo) {
	e.updates.post(func() { e.opts.onUpdate(ci) })
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b)
}
