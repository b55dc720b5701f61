// Package backend implements the ui package's interfaces (Auth, Rooms,
// Calls, Media, Sounds, Group) with the real matrixclient, callengine,
// matrixrtc and media packages. main.go builds one and hands it to ui.New.
//
// It is glue: it owns which media Source and sinks belong to which call,
// and translates errors and snapshots between the packages. One-to-one
// calls go the legacy way (callengine, m.call.*) or, when the homeserver
// offers a MatrixRTC focus, as MatrixRTC calls (matrixrtc sessions on a
// LiveKit SFU) that appear to the UI as calls of their own ("rtc:" IDs).
// It must not import Fyne.
package backend

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	"maunium.net/go/mautrix"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/matrixclient"
	"github.com/mxcall/mxcall/matrixrtc"
	"github.com/mxcall/mxcall/media"
	"github.com/mxcall/mxcall/ui"
)

// Config configures a Backend.
type Config struct {
	Log *slog.Logger
	// Keyring stores the session; nil uses the OS keyring.
	Keyring matrixclient.Keyring
	// EngineOptions are added to the call engine's options.
	EngineOptions []callengine.Option
	// MediaOptions are added to every call's media.Source (for example
	// media.WithTestPattern() in the demo).
	MediaOptions []media.Option
	// SettingEngine, if set, tunes pion (tests keep ICE on loopback).
	SettingEngine *webrtc.SettingEngine
	// DataDir keeps the encryption store ("" = the OS config dir).
	DataDir string
	// Resolution is the initial capture size (zero: 640x480).
	Resolution ui.Resolution
	// LegacyCalls is the initial Settings.LegacyCalls: one-to-one calls
	// go the legacy way (m.call.invite) even where MatrixRTC is offered.
	LegacyCalls bool
	// RTCFoci are the MatrixRTC foci (LiveKit token services) to use when
	// the homeserver advertises none: discovery's last fallback.
	RTCFoci []matrixrtc.Transport
	// RingLifetime is how long our MatrixRTC rings last (zero: 30 s).
	RingLifetime time.Duration
	// ClientOptions are added to the Matrix client's options.
	ClientOptions []matrixclient.Option
	// ScreenCapture opens what a screen share shares; nil: media's screen
	// capture (media.OpenScreenTrack).
	ScreenCapture ScreenCapture
	// ShareReleased, if set, is called once a screen share's pipeline was
	// closed in a call that goes on (ours stopped, or the peer's ended):
	// its frames and its codec, tens of MB at 1080p, are back in the
	// heaps, and the app may hand them to the system (main.go). It must
	// not block.
	ShareReleased func()
}

// Backend is the app's core: Matrix client, call engine and media.
type Backend struct {
	cfg Config
	log *slog.Logger
	mc  *matrixclient.Client
	api *webrtc.API

	rtc      *rtcCalls // MatrixRTC calls (callIDs of their own)
	partSubs subscribers[string]

	mu       sync.Mutex
	eng      *callengine.Engine
	tracker  *matrixrtc.Tracker // MatrixRTC state of the rooms, while logged in
	roomSubs subscribers[ui.RoomsSnapshot]
	callSubs subscribers[callengine.CallInfo]
	settings ui.Settings
	calls    map[string]*callMedia
	preview  *media.Source // the settings screen's camera preview
	trust    *trustCache   // peers' device verification, fetched in the background
	closed   bool

	verifySubs subscribers[ui.Verification] // device verification (verify.go)
}

// New builds a Backend; nothing touches the network until Login or Resume.
func New(cfg Config) (*Backend, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	k := cfg.Keyring
	if k == nil {
		k = matrixclient.SystemKeyring()
	}
	api, err := newAPI(cfg.SettingEngine)
	if err != nil {
		return nil, err
	}
	b := &Backend{
		cfg:      cfg,
		log:      cfg.Log,
		api:      api,
		calls:    make(map[string]*callMedia),
		settings: ui.Settings{Resolution: ui.Resolution{Width: 640, Height: 480}},
	}
	if cfg.Resolution.Width > 0 && cfg.Resolution.Height > 0 {
		b.settings.Resolution = cfg.Resolution
	}
	b.settings.LegacyCalls = cfg.LegacyCalls
	b.trust = newTrustCache(func(ctx context.Context, userID string) ([]matrixclient.Device, error) {
		return b.mc.PeerDevices(ctx, userID)
	}, func() { b.roomSubs.send(b.snapshot()) })
	b.mc = matrixclient.New(append([]matrixclient.Option{
		matrixclient.WithKeyring(k),
		matrixclient.WithLogger(cfg.Log),
		matrixclient.WithDeviceName("mxcall"),
		matrixclient.WithDataDir(cfg.DataDir),
		matrixclient.WithOnChange(b.onChange),
		matrixclient.WithOnDevicesChanged(b.onDevicesChanged), // security.go
	}, cfg.ClientOptions...)...)
	b.rtc = newRTCCalls(rtcConfig{
		log:    cfg.Log,
		matrix: b.mc,
		newSession: func(c matrixrtc.SessionConfig) (rtcSession, error) {
			return matrixrtc.NewSession(c)
		},
		discovery:      matrixrtc.Discovery{Configured: cfg.RTCFoci},
		newSource:      b.newSource,
		newScreen:      cfg.ScreenCapture,
		speaker:        func() string { return b.Settings().Speaker },
		onUpdate:       b.callSubs.send,
		onParticipants: b.partSubs.send,
		shareReleased:  b.shareReleased,
		ringLifetime:   cfg.RingLifetime,
		encrypted: func(roomID string) bool {
			room, ok := b.mc.Room(roomID)
			return !ok || room.Encrypted // unknown: assume the worst
		},
		members: b.liveMembers,
		displayNames: func(roomID string) map[string]string {
			room, _ := b.mc.Room(roomID)
			names := make(map[string]string, len(room.Members))
			for _, m := range room.Members {
				if m.DisplayName != "" {
					names[m.UserID] = m.DisplayName
				}
			}
			return names
		},
	})
	if b.rtc.cfg.newScreen == nil {
		b.rtc.cfg.newScreen = openScreen
	}
	if matrixclient.E2EEAvailable {
		b.rtc.cfg.toDevice = b.mc // MatrixRTC media keys go out Olm-encrypted
	}
	b.mc.SetVerificationHandler(b.onVerification) // verify.go
	return b, nil
}

// newAPI builds the pion API with the codecs the media package encodes and
// decodes (VP8 first, Opus) and its bandwidth estimation (GCC over TWCC),
// which steers the encoder.
func newAPI(se *webrtc.SettingEngine) (*webrtc.API, error) {
	return callengine.NewAPI(se, media.RegisterCodecs, media.AddBandwidthEstimation)
}

// UI returns the interfaces the ui package takes.
func (b *Backend) UI() ui.Backend {
	be := ui.Backend{Auth: b, Rooms: b, Calls: b, Media: b, Sounds: b, Group: b}
	if matrixclient.E2EEAvailable {
		be.Verify = b   // verify.go
		be.Security = b // security.go
	}
	return be
}

// Close hangs up, stops syncing and releases every device. Idempotent.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	eng := b.eng
	b.eng = nil
	b.mu.Unlock()
	// Leave MatrixRTC calls while the client can still send.
	b.rtc.close()
	b.setTracker(nil)
	if eng != nil {
		// Hang up while the client can still send (in an encrypted room
		// the hangup needs the crypto machine that Stop closes); this
		// also closes peer connections before the tracks below.
		b.mc.SetCallHandler(nil)
		_ = eng.Close()
	}
	b.mc.Stop()
	b.trust.close()
	b.releaseAllMedia()
	b.setPreview(nil)
	return b.mc.Close()
}

// ---- Auth ----

// Discover finds the homeserver for a user ID.
func (b *Backend) Discover(ctx context.Context, userID string) (string, error) {
	server, err := matrixclient.ServerName(userID)
	if err != nil {
		return "", uiErr(err)
	}
	hs, err := b.mc.Discover(ctx, server)
	return hs, uiErr(err)
}

// Login logs in with a password and starts syncing and the call engine.
func (b *Backend) Login(ctx context.Context, homeserverURL, userID, password string) (ui.Session, error) {
	if err := b.mc.Login(ctx, userID, password, homeserverURL); err != nil {
		return ui.Session{}, uiErr(err)
	}
	return b.startSession(ctx)
}

// Resume restores the session kept in the keyring, if any.
func (b *Backend) Resume(ctx context.Context) (ui.Session, bool, error) {
	if _, err := b.engine(); err == nil {
		// Already logged in (main.go logs in from the environment).
		st := b.mc.Status()
		return ui.Session{UserID: st.UserID, DeviceID: st.DeviceID, Homeserver: st.HomeserverURL}, true, nil
	}
	ok, err := b.mc.Restore(ctx)
	if err != nil || !ok {
		return ui.Session{}, false, uiErr(err)
	}
	s, err := b.startSession(ctx)
	return s, err == nil, err
}

// Logout hangs up, logs out on the server and forgets the session.
func (b *Backend) Logout(ctx context.Context) error {
	b.stopEngine()
	b.trust.reset()
	return uiErr(b.mc.Logout(ctx))
}

func (b *Backend) startSession(ctx context.Context) (ui.Session, error) {
	st := b.mc.Status()
	opts := append([]callengine.Option{
		callengine.WithAPI(b.api),
		callengine.WithLogger(b.log),
		callengine.WithOnUpdate(b.onCallUpdate),
		callengine.WithOnTrack(b.onTrack),
		callengine.WithICEServers(b.mc.ICEServers()),
		callengine.WithWarmUp(b.warmUpCodec),
	}, b.cfg.EngineOptions...)
	eng, err := callengine.New(st.UserID, b.mc, opts...)
	if err != nil {
		return ui.Session{}, err
	}
	b.stopEngine()
	b.mu.Lock()
	b.eng = eng
	b.mu.Unlock()
	b.mc.SetCallHandler(eng)
	// The first call as fast as the ones after it.
	eng.WarmUp()
	b.startTracker(st.UserID, st.DeviceID) //nolint:contextcheck // the tracker outlives the login request
	if err := b.mc.Start(ctx); err != nil && !errors.Is(err, matrixclient.ErrAlreadyStarted) {
		return ui.Session{}, uiErr(err)
	}
	return ui.Session{UserID: st.UserID, DeviceID: st.DeviceID, Homeserver: st.HomeserverURL}, nil
}

// warmUpCodec runs the video codec once at the capture size set (see
// media.WarmUpCodec); the engine's WarmUp calls it.
func (b *Backend) warmUpCodec() {
	b.mu.Lock()
	r := b.settings.Resolution
	b.mu.Unlock()
	if err := media.WarmUpCodec(r.Width, r.Height); err != nil {
		b.log.Debug("codec warm-up", "err", err)
	}
}

// stopEngine hangs up and closes the engine; it outlives any request
// context, as Engine.Close bounds its own hangups.
func (b *Backend) stopEngine() {
	b.mu.Lock()
	eng := b.eng
	b.eng = nil
	b.mu.Unlock()
	b.rtc.endAll()
	b.setTracker(nil)
	if eng != nil {
		b.mc.SetCallHandler(nil)
		_ = eng.Close()
		b.releaseAllMedia()
	}
}

func (b *Backend) engine() (*callengine.Engine, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.eng == nil {
		return nil, ErrNotLoggedIn
	}
	return b.eng, nil
}

// uiErr wraps matrixclient errors with the ui package's sentinels, so the
// login screen can say what went wrong.
func uiErr(err error) error {
	if err == nil {
		return nil
	}
	var (
		netErr  net.Error
		urlErr  *url.Error
		httpErr mautrix.HTTPError
	)
	switch {
	case errors.Is(err, matrixclient.ErrInvalidUserID):
		return fmt.Errorf("%w: %w", ui.ErrInvalidUserID, err)
	case errors.Is(err, mautrix.MForbidden), errors.Is(err, mautrix.MUserDeactivated):
		return fmt.Errorf("%w: %w", ui.ErrBadCredentials, err)
	case errors.As(err, &netErr), errors.As(err, &urlErr) && urlErr.Err != nil && !isHTTPStatus(err):
		return fmt.Errorf("%w: %w", ui.ErrUnreachable, err)
	case errors.Is(err, matrixclient.ErrDiscovery), errors.As(err, &httpErr) && httpErr.RespError == nil:
		return fmt.Errorf("%w: %w", ui.ErrNotMatrix, err)
	}
	return err
}

func isHTTPStatus(err error) bool {
	return strings.Contains(err.Error(), "status ")
}

// ---- Rooms ----

func (b *Backend) onChange(matrixclient.Change) {
	b.roomSubs.send(b.snapshot())
}

func (b *Backend) snapshot() ui.RoomsSnapshot {
	st := b.mc.Status()
	snap := ui.RoomsSnapshot{NoTURN: st.TURN.State == matrixclient.TURNNone}
	switch st.Conn {
	case matrixclient.ConnOnline:
		snap.Sync = ui.SyncOK
	case matrixclient.ConnConnecting, matrixclient.ConnReconnecting:
		snap.Sync = ui.SyncConnecting
	case matrixclient.ConnOffline:
		snap.Sync = ui.SyncOffline
	}
	rooms := b.mc.Rooms()
	snap.Rooms = b.uiRooms(rooms, st.E2EE)
	for _, inv := range b.mc.Invites() {
		snap.Invites = append(snap.Invites, ui.Invite{
			RoomID: inv.RoomID, RoomName: inv.Name, Inviter: inv.Inviter, InviterName: inv.InviterName, DM: inv.IsDirect,
		})
	}
	snap.Missed = missedCalls(st.UserID, rooms, b.mc.Undecryptable())
	return snap
}

// uiRooms converts the client's rooms for the room list, sorted by name.
// Device trust comes from the cache; with e2ee (encryption ready) peers
// whose entry is missing or old are queued for a background refresh, which
// sends a new snapshot when it changes something. It never blocks.
func (b *Backend) uiRooms(rooms []matrixclient.Room, e2ee bool) []ui.Room {
	out := make([]ui.Room, 0, len(rooms))
	var stale []string
	for _, r := range rooms {
		room := ui.Room{ID: r.ID, Name: r.Name, Peer: r.CallPeer, DM: r.DirectPeer != "" || r.Callable(), Encrypted: r.Encrypted,
			CallMembers: b.callMembers(r.ID)}
		if room.Name == "" {
			room.Name = r.ID
		}
		if peer := cmp.Or(r.CallPeer, r.DirectPeer); r.Encrypted && peer != "" {
			room.Trust = b.trust.get(peer)
			stale = append(stale, peer)
		}
		out = append(out, room)
	}
	if e2ee && len(stale) > 0 {
		b.trust.request(stale)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// missedCalls turns the events that could not be decrypted into the room
// list's missed calls: only those from others in one-to-one rooms, where
// an undecryptable event may well have been a call invite.
func missedCalls(me string, rooms []matrixclient.Room, und []matrixclient.Undecryptable) []ui.MissedCall {
	if len(und) == 0 {
		return nil
	}
	byID := make(map[string]matrixclient.Room, len(rooms))
	for _, r := range rooms {
		byID[r.ID] = r
	}
	var out []ui.MissedCall
	for _, u := range und {
		r, ok := byID[u.RoomID]
		if !ok || u.Sender == me || (r.DirectPeer == "" && !r.Callable()) {
			continue
		}
		m := ui.MissedCall{RoomID: u.RoomID, EventID: u.EventID, Sender: u.Sender, Time: u.Time, Reason: undecryptableReason(u.Err)}
		for _, mem := range r.Members {
			if mem.UserID == u.Sender {
				m.SenderName = mem.DisplayName
			}
		}
		out = append(out, m)
	}
	return out
}

// undecryptableReason says in words why an event could not be decrypted.
func undecryptableReason(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "no session"):
		return "its key has not reached this device"
	case strings.Contains(msg, "duplicate message index"):
		return "it was replayed"
	}
	const most = 80
	if len(msg) > most {
		msg = msg[:most] + "…"
	}
	return "decryption failed: " + msg
}

// SubscribeRooms sends the room list now and after every change.
func (b *Backend) SubscribeRooms(fn func(ui.RoomsSnapshot)) (cancel func()) {
	cancel = b.roomSubs.add(fn)
	fn(b.snapshot())
	return cancel
}

// CreateDM returns (creating if needed) the direct chat with userID.
func (b *Backend) CreateDM(ctx context.Context, userID string) (string, error) {
	if roomID, ok := b.mc.DirectRoom(userID); ok {
		return roomID, nil
	}
	id, err := b.mc.CreateDM(ctx, userID)
	return id, uiErr(err)
}

// AcceptInvite joins an invited room.
func (b *Backend) AcceptInvite(ctx context.Context, roomID string) error {
	return uiErr(b.mc.AcceptInvite(ctx, roomID))
}

// DeclineInvite leaves an invited room.
func (b *Backend) DeclineInvite(ctx context.Context, roomID string) error {
	return uiErr(b.mc.DeclineInvite(ctx, roomID))
}
