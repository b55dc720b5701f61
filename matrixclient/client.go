package matrixclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/matrixrtc"
)

// CallHandler receives call signalling from the homeserver. The
// callengine.Engine satisfies it. Calls come from one goroutine, in sync
// order; they should not block for long.
type CallHandler interface {
	// HandleEvents gets the m.call.* events of one whole sync batch.
	HandleEvents(ctx context.Context, batch []callengine.RoomEvent)
	// PeerLeft says userID left (or was removed from) roomID.
	PeerLeft(ctx context.Context, roomID, userID string)
	// SetICEServers gets the TURN servers (nil when there are none).
	SetICEServers(servers []webrtc.ICEServer)
}

// Change says what part of the client's state changed.
type Change int

// Changes passed to the OnChange callback.
const (
	ChangeUnknown    Change = iota
	ChangeSession           // logged in, logged out, session expired, keyring state
	ChangeConnection        // ConnState changed
	ChangeRooms             // rooms, members, DMs or invites changed
	ChangeTURN              // TURN state or servers changed
	// ChangeUndecryptable: an encrypted event could not be decrypted.
	ChangeUndecryptable
)

// String names the change.
func (c Change) String() string {
	switch c {
	case ChangeSession:
		return "session"
	case ChangeConnection:
		return "connection"
	case ChangeRooms:
		return "rooms"
	case ChangeTURN:
		return "turn"
	case ChangeUndecryptable:
		return "undecryptable"
	}
	return "unknown"
}

// ConnState is the state of the connection to the homeserver.
type ConnState int

// Connection states.
const (
	// ConnStopped: not syncing (not started, stopped or logged out).
	ConnStopped ConnState = iota
	// ConnConnecting: the first sync is under way.
	ConnConnecting
	// ConnOnline: the last sync succeeded.
	ConnOnline
	// ConnReconnecting: a sync failed; retrying with backoff.
	ConnReconnecting
	// ConnOffline: several syncs in a row failed; still retrying, slowly.
	ConnOffline
)

// String names the state.
func (s ConnState) String() string {
	switch s {
	case ConnStopped:
		return "stopped"
	case ConnConnecting:
		return "connecting"
	case ConnOnline:
		return "online"
	case ConnReconnecting:
		return "reconnecting"
	case ConnOffline:
		return "offline"
	}
	return "unknown"
}

// TURNState tells whether the homeserver gave us a TURN server.
type TURNState int

// TURN states.
const (
	// TURNUnknown: not asked yet.
	TURNUnknown TURNState = iota
	// TURNAvailable: the homeserver returned TURN URIs and credentials.
	TURNAvailable
	// TURNNone: the homeserver has no TURN server (empty answer). Calls
	// across NATs may stay stuck connecting: tell the user.
	TURNNone
	// TURNError: asking failed; retrying.
	TURNError
)

// String describes the state for the user.
func (s TURNState) String() string {
	switch s {
	case TURNAvailable:
		return "available"
	case TURNNone:
		return "no TURN server"
	case TURNError:
		return "error"
	}
	return "unknown"
}

// TURNStatus describes the TURN servers without their credentials.
type TURNStatus struct {
	State   TURNState
	URIs    []string
	Expires time.Time // when the current credentials run out
	Err     error     // last error when State is TURNError
}

// Status is a snapshot of the client's state.
type Status struct {
	LoggedIn      bool
	HomeserverURL string
	UserID        string
	DeviceID      string
	// Keyring is nil when the session is stored in the OS keyring; else it
	// wraps ErrNoKeyring and the session is kept in memory only.
	Keyring error
	// Expired is set when the homeserver rejected the access token.
	Expired bool
	Conn    ConnState
	ConnErr error // last sync error while reconnecting/offline
	TURN    TURNStatus
	// E2EE is set once end-to-end encryption is ready for this session;
	// E2EEErr says why it is not (nil while starting, or when not built in).
	E2EE    bool
	E2EEErr error
}

type config struct {
	keyring        Keyring
	service        string
	log            *slog.Logger
	mxlog          zerolog.Logger
	httpClient     *http.Client
	onChange       func(Change)
	onDevices      func(userIDs []string)
	syncTimeout    time.Duration
	backoffMin     time.Duration
	backoffMax     time.Duration
	offlineAfter   int
	sendAttempts   int
	sendBackoffMin time.Duration
	sendBackoffMax time.Duration
	deviceName     string
	discoverScheme string
	dataDir        string
	plainDMs       bool
	noE2EE         bool
}

// Option configures a Client.
type Option func(*config)

// WithKeyring sets where the session is stored (default SystemKeyring).
func WithKeyring(k Keyring) Option { return func(c *config) { c.keyring = k } }

// WithKeyringService sets the keyring service name (default "mxcall"); use
// different names to keep several accounts.
func WithKeyringService(s string) Option { return func(c *config) { c.service = s } }

// WithLogger sets the structured logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithMautrixLogger sets mautrix's own zerolog logger (default: disabled).
// mautrix logs request bodies at debug level (SDPs among them): keep it at
// info or above outside debugging.
func WithMautrixLogger(l zerolog.Logger) Option { return func(c *config) { c.mxlog = l } }

// WithHTTPClient sets the HTTP client used for the homeserver.
func WithHTTPClient(h *http.Client) Option { return func(c *config) { c.httpClient = h } }

// WithOnChange sets a callback told about state changes; read the new
// state with Status, Rooms and Invites. It runs on a client goroutine and
// must not block.
func WithOnChange(f func(Change)) Option { return func(c *config) { c.onChange = f } }

// WithOnDevicesChanged sets a callback told which users' device lists (or
// cross-signing keys) changed in a sync, after the crypto store took the
// new lists in: PeerDevices then returns them. It runs on the sync
// goroutine and must not block.
func WithOnDevicesChanged(f func(userIDs []string)) Option {
	return func(c *config) { c.onDevices = f }
}

// WithSyncTimeout sets the long-poll timeout of /sync (default 30 s).
func WithSyncTimeout(d time.Duration) Option { return func(c *config) { c.syncTimeout = d } }

// WithReconnectBackoff sets the first and largest wait between failed
// syncs (default 250 ms and 30 s); the wait doubles per failure.
func WithReconnectBackoff(first, largest time.Duration) Option {
	return func(c *config) { c.backoffMin, c.backoffMax = first, largest }
}

// WithSendRetries sets how often a call event send is attempted (default
// 8) and the first and largest wait between attempts (250 ms, 4 s).
func WithSendRetries(attempts int, first, largest time.Duration) Option {
	return func(c *config) { c.sendAttempts, c.sendBackoffMin, c.sendBackoffMax = attempts, first, largest }
}

// WithDataDir sets where the end-to-end encryption store is kept (default
// os.UserConfigDir()/mxcall). It never holds the access token.
func WithDataDir(dir string) Option { return func(c *config) { c.dataDir = dir } }

// WithE2EE turns end-to-end encryption off (false) even when the build has
// it. Default: on when E2EEAvailable.
func WithE2EE(enabled bool) Option { return func(c *config) { c.noE2EE = !enabled } }

// WithPlaintextDMs makes CreateDM create unencrypted rooms even when
// end-to-end encryption is available (default: encrypted, like Element).
func WithPlaintextDMs(plain bool) Option { return func(c *config) { c.plainDMs = plain } }

// WithDeviceName sets the device display name given at login (default "mxcall").
func WithDeviceName(n string) Option { return func(c *config) { c.deviceName = n } }

// Client is a Matrix account: session, sync, rooms, TURN and call event
// transport. Create it with New, then Restore or Login, then Start.
// It is safe for concurrent use.
type Client struct {
	cfg config
	log *slog.Logger

	mu         sync.Mutex
	mx         *mautrix.Client // nil when logged out
	sess       Session
	keyringErr error
	expired    bool
	conn       ConnState
	connErr    error
	turn       TURNStatus
	ice        []webrtc.ICEServer
	handler    CallHandler
	rtc        func([]matrixrtc.RoomEvent)
	toDevice   func(matrixrtc.ToDeviceEvent)
	onVerify   func(Verification)
	verifs     []*Verification // newest last, at most maxVerifications
	rooms      *roomModel
	run        *runState
	closed     bool
	turnKick   chan struct{}

	// since is the sync token of the last batch applied to rooms (from
	// the session cache after Restore); savedAt is when the cache was last
	// written (used by the dispatcher, and by Stop after it ended).
	since   string
	savedAt time.Time

	crypto        cryptoBackend   // nil without E2EE
	sharedAhead   map[string]bool // rooms whose key shareLoop has shared
	e2eeErr       error
	undecryptable []Undecryptable
	late          lateEvents
	encSeen       seenTimes
}

type runState struct {
	cancel context.CancelFunc
	done   sync.WaitGroup
}

var _ callengine.Signaller = (*Client)(nil)

// New returns a logged-out Client.
func New(opts ...Option) *Client {
	cfg := config{
		keyring:        SystemKeyring(),
		service:        "mxcall",
		log:            slog.New(slog.DiscardHandler),
		mxlog:          zerolog.Nop(),
		syncTimeout:    30 * time.Second,
		backoffMin:     250 * time.Millisecond,
		backoffMax:     30 * time.Second,
		offlineAfter:   3,
		sendAttempts:   8,
		sendBackoffMin: 250 * time.Millisecond,
		sendBackoffMax: 4 * time.Second,
		deviceName:     "mxcall",
		discoverScheme: "https",
	}
	for _, o := range opts {
		o(&cfg)
	}
	return &Client{cfg: cfg, log: cfg.log, rooms: newRoomModel(), turnKick: make(chan struct{}, 1)}
}

// SetCallHandler sets who receives call events, peer leaves and TURN
// servers (normally the callengine.Engine, which itself needs this Client
// as its Signaller). It immediately gets the current ICE servers.
func (c *Client) SetCallHandler(h CallHandler) {
	c.mu.Lock()
	c.handler = h
	ice := c.ice
	known := c.turn.State == TURNAvailable || c.turn.State == TURNNone
	c.mu.Unlock()
	if h != nil && known {
		h.SetICEServers(ice)
	}
}

// SetRTCHandler sets who receives the MatrixRTC events of joined rooms
// (call memberships, rings, declines, and the m.room.member events they
// are judged by), batch by batch in sync order; normally a
// matrixrtc.Tracker's Handle. fn runs on the sync dispatcher and must not
// block. nil stops the delivery.
func (c *Client) SetRTCHandler(fn func([]matrixrtc.RoomEvent)) {
	c.mu.Lock()
	c.rtc = fn
	c.mu.Unlock()
}

func (c *Client) rtcHandler() func([]matrixrtc.RoomEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rtc
}

func (c *Client) callHandler() CallHandler {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.handler
}

func (c *Client) notify(ch Change) {
	if c.cfg.onChange != nil {
		c.cfg.onChange(ch)
	}
}

// Status returns a snapshot of the client's state.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.turn
	t.URIs = append([]string(nil), t.URIs...)
	return Status{
		LoggedIn:      c.mx != nil,
		HomeserverURL: c.sess.HomeserverURL,
		UserID:        c.sess.UserID,
		DeviceID:      c.sess.DeviceID,
		Keyring:       c.keyringErr,
		Expired:       c.expired,
		Conn:          c.conn,
		ConnErr:       c.connErr,
		TURN:          t,
		E2EE:          c.crypto != nil,
		E2EEErr:       c.e2eeErr,
	}
}

// UserID returns our Matrix user ID ("" when logged out).
func (c *Client) UserID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess.UserID
}

// ICEServers returns the current TURN servers for the engine (nil if none).
func (c *Client) ICEServers() []webrtc.ICEServer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]webrtc.ICEServer(nil), c.ice...)
}

func (c *Client) mautrixClient() (*mautrix.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.mx == nil {
		return nil, ErrNotLoggedIn
	}
	return c.mx, nil
}

func (c *Client) newMautrix(s Session) (*mautrix.Client, error) {
	mx, err := mautrix.NewClient(s.HomeserverURL, id.UserID(s.UserID), s.AccessToken)
	if err != nil {
		return nil, fmt.Errorf("matrixclient: homeserver URL: %w", err)
	}
	mx.DeviceID = id.DeviceID(s.DeviceID)
	mx.Log = c.cfg.mxlog
	mx.DefaultHTTPRetries = 0
	if c.cfg.httpClient != nil {
		mx.Client = c.cfg.httpClient
	}
	return mx, nil
}

// Start begins syncing and fetching TURN servers in the background. It
// needs a session (Restore or Login). Stop (or Logout, Close) ends it.
func (c *Client) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return ErrClosed
	case c.mx == nil:
		return ErrNotLoggedIn
	case c.run != nil:
		return ErrAlreadyStarted
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &runState{cancel: cancel}
	c.run = r
	mx := c.mx
	batches := make(chan *batch, 64)
	mx.Syncer = c.newSyncer(func(b *batch) {
		select {
		case batches <- b:
		case <-runCtx.Done():
		}
	})
	share := make(chan struct{}, 1)
	r.done.Add(4)
	go func() { defer r.done.Done(); c.syncLoop(runCtx, mx, batches) }()
	go func() { defer r.done.Done(); c.dispatchLoop(runCtx, batches, share) }()
	go func() { defer r.done.Done(); c.turnLoop(runCtx, mx) }()
	go func() { defer r.done.Done(); c.shareLoop(runCtx, share) }()
	return nil
}

// Stop ends syncing and TURN refresh and waits for them. The session stays.
func (c *Client) Stop() {
	c.mu.Lock()
	r := c.run
	c.run = nil
	c.mu.Unlock()
	if r == nil {
		return
	}
	r.cancel()
	r.done.Wait()
	c.persist(true)
	c.mu.Lock()
	cr, mx := c.crypto, c.mx
	c.crypto = nil
	c.mu.Unlock()
	if cr != nil {
		if mx != nil {
			mx.Crypto = nil
		}
		if err := cr.close(); err != nil {
			c.log.Warn("closing crypto store", "err", err)
		}
	}
	c.setConn(ConnStopped, nil)
}

// Close stops the client. The stored session stays for the next start.
// Close is idempotent.
func (c *Client) Close() error {
	c.Stop()
	c.mu.Lock()
	c.closed = true
	mx := c.mx
	c.mu.Unlock()
	if mx != nil && c.cfg.httpClient == nil {
		mx.Client.CloseIdleConnections()
	}
	return nil
}

func (c *Client) setConn(s ConnState, err error) {
	c.mu.Lock()
	changed := c.conn != s || !errors.Is(err, c.connErr)
	wasOnline := c.conn == ConnOnline
	c.conn, c.connErr = s, err
	turnFailed := c.turn.State == TURNError
	c.mu.Unlock()
	if s == ConnOnline && !wasOnline && turnFailed {
		select {
		case c.turnKick <- struct{}{}:
		default:
		}
	}
	if changed {
		c.notify(ChangeConnection)
	}
}

// backoff returns the wait before attempt n (n ≥ 1), doubling from first
// up to largest, with ±20% jitter.
func backoff(n int, first, largest time.Duration) time.Duration {
	d := first
	for i := 1; i < n && d < largest; i++ {
		d *= 2
	}
	d = min(d, largest)
	j := time.Duration(float64(d) * 0.2 * (2*randFloat() - 1))
	return max(d+j, time.Millisecond)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
