package callengine

import (
	"log/slog"
	"time"

	"github.com/pion/webrtc/v4"
)

// Default timings. They follow the spec and what matrix-js-sdk does.
const (
	DefaultInviteLifetime    = 90 * time.Second
	DefaultMinRingTime       = 5 * time.Second
	DefaultGatherWait        = 200 * time.Millisecond
	DefaultCallerBatch       = 2 * time.Second
	DefaultCalleeBatch       = 500 * time.Millisecond
	DefaultICERestartDelay   = 2 * time.Second
	DefaultICEDisconnectWait = 30 * time.Second
)

type options struct {
	partyID           string
	api               *webrtc.API
	settingEngine     *webrtc.SettingEngine
	iceServers        []webrtc.ICEServer
	relayOnly         bool
	log               *slog.Logger
	onUpdate          func(CallInfo)
	onTrack           func(RemoteTrack)
	warmUp            func()
	inviteLifetime    time.Duration
	minRingTime       time.Duration
	gatherWait        time.Duration
	callerBatch       time.Duration
	calleeBatch       time.Duration
	iceRestartDelay   time.Duration
	iceDisconnectWait time.Duration
	now               func() time.Time
}

// Option configures an Engine at construction.
type Option func(*options)

// WithPartyID sets this device's party_id (default: 16 random alphanumerics).
func WithPartyID(id string) Option { return func(o *options) { o.partyID = id } }

// WithAPI sets the pion API used to create peer connections. It takes
// precedence over WithSettingEngine. Build it with NewAPI, which adds the
// engine's ICE settings.
func WithAPI(api *webrtc.API) Option { return func(o *options) { o.api = api } }

// WithSettingEngine sets the pion SettingEngine (for example with a vnet
// network, loopback candidates or an interface filter); NewAPI replaces
// its ICE acceptance waits.
func WithSettingEngine(se webrtc.SettingEngine) Option {
	return func(o *options) { o.settingEngine = &se }
}

// WithICEServers sets the initial STUN/TURN servers.
func WithICEServers(s []webrtc.ICEServer) Option { return func(o *options) { o.iceServers = s } }

// WithRelayOnly restricts ICE to relay (TURN) candidates.
func WithRelayOnly(relay bool) Option { return func(o *options) { o.relayOnly = relay } }

// WithLogger sets the structured logger.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithOnUpdate sets the function that receives every call's state
// snapshots, in order, from one engine goroutine. It must not block long.
func WithOnUpdate(f func(CallInfo)) Option { return func(o *options) { o.onUpdate = f } }

// WithOnTrack sets the function that receives remote tracks. It runs on a
// goroutine of its own per track and may read the track until it ends.
func WithOnTrack(f func(RemoteTrack)) Option { return func(o *options) { o.onTrack = f } }

// WithWarmUp adds f to WarmUp: it runs on WarmUp's goroutine once the
// peer connection's warm-up is done (the media side's own warm-up, such
// as the video codec's).
func WithWarmUp(f func()) Option { return func(o *options) { o.warmUp = f } }

// WithInviteLifetime sets the lifetime of our invites (default 90 s).
func WithInviteLifetime(d time.Duration) Option { return func(o *options) { o.inviteLifetime = d } }

// WithMinRingTime sets how much of an invite's lifetime must remain for
// it to ring (default 5 s).
func WithMinRingTime(d time.Duration) Option { return func(o *options) { o.minRingTime = d } }

// WithCandidateTimings sets how long to wait for candidates before sending
// an invite or answer, and the trickle batch delays for caller and callee.
func WithCandidateTimings(gatherWait, callerBatch, calleeBatch time.Duration) Option {
	return func(o *options) {
		o.gatherWait, o.callerBatch, o.calleeBatch = gatherWait, callerBatch, calleeBatch
	}
}

// WithICETimings sets how long ICE may stay disconnected before an ICE
// restart is tried, and before the call is hung up with ice_timeout.
func WithICETimings(restartDelay, disconnectWait time.Duration) Option {
	return func(o *options) { o.iceRestartDelay, o.iceDisconnectWait = restartDelay, disconnectWait }
}

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

func defaultOptions() options {
	return options{
		log:               slog.New(slog.DiscardHandler),
		onUpdate:          func(CallInfo) {},
		onTrack:           func(RemoteTrack) {},
		inviteLifetime:    DefaultInviteLifetime,
		minRingTime:       DefaultMinRingTime,
		gatherWait:        DefaultGatherWait,
		callerBatch:       DefaultCallerBatch,
		calleeBatch:       DefaultCalleeBatch,
		iceRestartDelay:   DefaultICERestartDelay,
		iceDisconnectWait: DefaultICEDisconnectWait,
		now:               time.Now,
	}
}
