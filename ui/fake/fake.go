// Package fake is an in-memory ui.Backend for tests and the preview
// command: scripted logins, a room list, calls whose state the test drives
// (or that progress by themselves) and synthetic video.
//
// It imports ui and callengine's types only; no network, no devices.
package fake

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/ui"
)

// ErrNoInvite is returned for an invite the fake does not hold.
var ErrNoInvite = errors.New("fake: no such invite")

// Backend implements ui.Auth, ui.Rooms, ui.Calls, ui.Media, ui.Sounds and
// ui.Group. Exported fields configure it; set them before use.
type Backend struct {
	// Password is the password Login accepts (any, when empty).
	Password string
	// HomeserverFor returns Discover's answer; nil derives
	// https://<server part>.
	HomeserverFor func(userID string) (string, error)
	// LoginErr, when set, is returned by every Login.
	LoginErr error
	// HangupErr, when set, is returned by every Hangup, which then leaves
	// the call as it is.
	HangupErr error
	// Stored is the session Resume returns, if not nil.
	Stored *ui.Session
	// AutoProgress makes placed calls ring for RingFor, then connect,
	// and answered calls connect, like a real peer would.
	AutoProgress bool
	// RingFor is how long an outgoing call rings with AutoProgress.
	RingFor time.Duration
	// Now is the clock used for CallInfo times (time.Now when nil).
	Now func() time.Time

	// RemoteSlot and LocalSlot are the video slots returned by
	// RemoteVideo and LocalVideo.
	RemoteSlot, LocalSlot *FrameSlot

	// GroupCalls makes UI offer the Group side (MatrixRTC calls).
	GroupCalls bool
	// Members are who else is in a group call once it connects (with
	// AutoProgress) or is answered; tests also set participants directly
	// with SetParticipants.
	Members []ui.Participant
	// Verifier makes UI offer the Verify side (see verify.go).
	Verifier bool
	// Securer makes UI offer the Security side: cross-signing and peers'
	// devices (see security.go).
	Securer bool

	// ScreenErr, when set, is returned by ScreenSources and
	// ScreenThumbnail (as on Wayland without XWayland); ShareErr by
	// StartScreenshare. RemoteScreenSlot is what RemoteScreen returns
	// while the peer shares (SetRemoteShare).
	ScreenErr, ShareErr error
	RemoteScreenSlot    *FrameSlot

	mu       sync.Mutex
	verifs   verifState
	sec      securityState
	snap     ui.RoomsSnapshot
	roomSubs map[int]func(ui.RoomsSnapshot)
	callSubs map[int]func(callengine.CallInfo)
	nextSub  int
	calls    map[string]callengine.CallInfo
	media    map[string]bool // calls that connected: they have remote video
	nextCall int
	settings ui.Settings
	actions  []string
	playing  map[string]int
	parts    map[string][]ui.Participant // group calls' participants
	partSubs map[int]func(string)
	group    map[string]bool   // group calls
	sharing  map[string]string // calls we share a screen in: the source
	// remoteShare: calls whose peer shares a screen
	remoteShare map[string]bool
	thumbs      int // ScreenThumbnail calls
}

// New returns a fake with empty rooms and two video slots.
func New() *Backend {
	return &Backend{
		RingFor:    2 * time.Second,
		RemoteSlot: &FrameSlot{},
		LocalSlot:  &FrameSlot{},
		// the peer's shared screen
		RemoteScreenSlot: &FrameSlot{},
		sharing:          map[string]string{},
		remoteShare:      map[string]bool{},
		roomSubs:         map[int]func(ui.RoomsSnapshot){},
		callSubs:         map[int]func(callengine.CallInfo){},
		calls:            map[string]callengine.CallInfo{},
		media:            map[string]bool{},
		playing:          map[string]int{},
		parts:            map[string][]ui.Participant{},
		partSubs:         map[int]func(string){},
		group:            map[string]bool{},
		settings:         ui.Settings{Camera: "cam0", Microphone: "mic0", Speaker: "spk0", Resolution: ui.Resolution{Width: 1280, Height: 720}},
	}
}

// UI returns a ui.Backend backed by b.
func (b *Backend) UI() ui.Backend {
	be := ui.Backend{Auth: b, Rooms: b, Calls: b, Media: b, Sounds: b}
	if b.GroupCalls {
		be.Group = b
	}
	if b.Verifier {
		be.Verify = b
	}
	if b.Securer {
		be.Security = b
	}
	return be
}

func (b *Backend) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *Backend) record(format string, args ...any) {
	b.mu.Lock()
	b.actions = append(b.actions, fmt.Sprintf(format, args...))
	b.mu.Unlock()
}

// Actions returns what the UI asked the backend to do, in order.
func (b *Backend) Actions() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.actions...)
}

// ---- Auth ----

// Discover implements ui.Auth.
func (b *Backend) Discover(ctx context.Context, userID string) (string, error) {
	b.record("discover %s", userID)
	if b.HomeserverFor != nil {
		return b.HomeserverFor(userID)
	}
	for i := 0; i < len(userID); i++ {
		if userID[i] == ':' {
			return "https://" + userID[i+1:], nil
		}
	}
	return "", ui.ErrInvalidUserID
}

// Login implements ui.Auth.
func (b *Backend) Login(ctx context.Context, hs, userID, password string) (ui.Session, error) {
	b.record("login %s %s", hs, userID)
	if b.LoginErr != nil {
		return ui.Session{}, b.LoginErr
	}
	if b.Password != "" && password != b.Password {
		return ui.Session{}, fmt.Errorf("M_FORBIDDEN: %w", ui.ErrBadCredentials)
	}
	return ui.Session{UserID: userID, DeviceID: "FAKEDEVICE", Homeserver: hs}, nil
}

// Resume implements ui.Auth.
func (b *Backend) Resume(ctx context.Context) (ui.Session, bool, error) {
	if b.Stored == nil {
		return ui.Session{}, false, nil
	}
	return *b.Stored, true, nil
}

// Logout implements ui.Auth.
func (b *Backend) Logout(ctx context.Context) error {
	b.record("logout")
	return nil
}

// ---- Rooms ----

// SetRooms replaces the room snapshot and tells subscribers.
func (b *Backend) SetRooms(s ui.RoomsSnapshot) {
	b.mu.Lock()
	b.snap = s
	subs := make([]func(ui.RoomsSnapshot), 0, len(b.roomSubs))
	for _, f := range b.roomSubs {
		subs = append(subs, f)
	}
	b.mu.Unlock()
	for _, f := range subs {
		f(s)
	}
}

// RoomsSnapshot returns the current snapshot.
func (b *Backend) RoomsSnapshot() ui.RoomsSnapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.snap
}

// SubscribeRooms implements ui.Rooms.
func (b *Backend) SubscribeRooms(fn func(ui.RoomsSnapshot)) func() {
	b.mu.Lock()
	id := b.nextSub
	b.nextSub++
	b.roomSubs[id] = fn
	s := b.snap
	b.mu.Unlock()
	fn(s)
	return func() {
		b.mu.Lock()
		delete(b.roomSubs, id)
		b.mu.Unlock()
	}
}

// CreateDM implements ui.Rooms: it adds an encrypted DM room at the top
// (as Element and mxcall create them), its peer's devices not yet known.
func (b *Backend) CreateDM(ctx context.Context, userID string) (string, error) {
	b.record("create-dm %s", userID)
	s := b.RoomsSnapshot()
	id := "!dm-" + userID
	s.Rooms = append([]ui.Room{{ID: id, Name: userID, Peer: userID, DM: true, LastActive: b.now(), Encrypted: true}}, s.Rooms...)
	b.SetRooms(s)
	return id, nil
}

// AcceptInvite implements ui.Rooms: the invite becomes a room.
func (b *Backend) AcceptInvite(ctx context.Context, roomID string) error {
	b.record("accept %s", roomID)
	return b.dropInvite(roomID, true)
}

// DeclineInvite implements ui.Rooms.
func (b *Backend) DeclineInvite(ctx context.Context, roomID string) error {
	b.record("decline %s", roomID)
	return b.dropInvite(roomID, false)
}

func (b *Backend) dropInvite(roomID string, join bool) error {
	s := b.RoomsSnapshot()
	var keep []ui.Invite
	found := false
	for _, inv := range s.Invites {
		if inv.RoomID != roomID {
			keep = append(keep, inv)
			continue
		}
		found = true
		if join {
			name := inv.InviterName
			if !inv.DM && inv.RoomName != "" {
				name = inv.RoomName
			}
			r := ui.Room{ID: roomID, Name: name, DM: inv.DM, LastActive: b.now()}
			if inv.DM {
				r.Peer = inv.Inviter
			}
			s.Rooms = append(s.Rooms, r)
		}
	}
	if !found {
		return ErrNoInvite
	}
	s.Invites = keep
	b.SetRooms(s)
	return nil
}

// ---- Calls ----

// Emit stores info as the call's newest state and tells subscribers. An
// ended group call loses its participants.
func (b *Backend) Emit(info callengine.CallInfo) {
	b.mu.Lock()
	if info.State == callengine.StateConnected {
		b.media[info.ID] = true
	}
	_, hadParts := b.parts[info.ID]
	if info.State == callengine.StateEnded {
		delete(b.calls, info.ID)
		delete(b.parts, info.ID)
		delete(b.group, info.ID)
		delete(b.sharing, info.ID)
		delete(b.remoteShare, info.ID)
	} else {
		b.calls[info.ID] = info
	}
	subs := make([]func(callengine.CallInfo), 0, len(b.callSubs))
	for _, f := range b.callSubs {
		subs = append(subs, f)
	}
	b.mu.Unlock()
	for _, f := range subs {
		f(info)
	}
	if hadParts && info.State == callengine.StateEnded {
		b.notifyParticipants(info.ID)
	}
}

// Call returns the newest state of a live call.
func (b *Backend) Call(id string) (callengine.CallInfo, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.calls[id]
	return c, ok
}

func (b *Backend) newID() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextCall++
	return fmt.Sprintf("call%d", b.nextCall)
}

// Ring starts an incoming call from the peer of room r and returns its ID.
func (b *Backend) Ring(r ui.Room, video bool) string {
	id := b.newID()
	b.Emit(callengine.CallInfo{ID: id, RoomID: r.ID, Peer: r.Peer, Direction: callengine.Incoming,
		State: callengine.StateRinging, Video: video, Created: b.now()})
	return id
}

// Update changes a live call with f and emits the result.
func (b *Backend) Update(id string, f func(*callengine.CallInfo)) error {
	c, ok := b.Call(id)
	if !ok {
		return callengine.ErrNoSuchCall
	}
	f(&c)
	b.Emit(c)
	return nil
}

// End ends a live call with the given reason.
func (b *Backend) End(id string, by callengine.Party, reason callengine.EndReason) error {
	return b.Update(id, func(c *callengine.CallInfo) {
		c.State, c.EndedBy, c.EndReason = callengine.StateEnded, by, reason
	})
}

// SubscribeCalls implements ui.Calls.
func (b *Backend) SubscribeCalls(fn func(callengine.CallInfo)) func() {
	b.mu.Lock()
	id := b.nextSub
	b.nextSub++
	b.callSubs[id] = fn
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.callSubs, id)
		b.mu.Unlock()
	}
}

// PlaceCall implements ui.Calls.
func (b *Backend) PlaceCall(ctx context.Context, roomID, peer string, video bool) (string, error) {
	b.record("place %s %s video=%v", roomID, peer, video)
	b.mu.Lock()
	for _, c := range b.calls {
		if c.State != callengine.StateEnded {
			b.mu.Unlock()
			return "", callengine.ErrBusy
		}
	}
	b.mu.Unlock()
	id := b.newID()
	info := callengine.CallInfo{ID: id, RoomID: roomID, Peer: peer, Direction: callengine.Outgoing,
		State: callengine.StateInviteSent, Video: video, Created: b.now()}
	b.Emit(info)
	if b.AutoProgress {
		go func() {
			time.Sleep(b.RingFor)
			b.connect(id)
		}()
	}
	return id, nil
}

func (b *Backend) connect(id string) {
	_ = b.Update(id, func(c *callengine.CallInfo) { c.State = callengine.StateConnecting })
	time.Sleep(300 * time.Millisecond)
	_ = b.Update(id, func(c *callengine.CallInfo) { c.State = callengine.StateConnected; c.ConnectedAt = b.now() })
}

// Answer implements ui.Calls; answering a group call joins it (we and
// Members are its participants).
func (b *Backend) Answer(ctx context.Context, id string, video bool) error {
	b.record("answer %s video=%v", id, video)
	err := b.Update(id, func(c *callengine.CallInfo) { c.State = callengine.StateAnswering; c.Video = c.Video && video })
	if err == nil && b.isGroup(id) {
		b.SetParticipants(id, append([]ui.Participant{b.local(video)}, b.Members...))
	}
	if err == nil && b.AutoProgress {
		go b.connect(id)
	}
	return err
}

// Reject implements ui.Calls.
func (b *Backend) Reject(ctx context.Context, id string) error {
	b.record("reject %s", id)
	return b.End(id, callengine.PartyLocal, callengine.ReasonRejected)
}

// Hangup implements ui.Calls.
func (b *Backend) Hangup(ctx context.Context, id string) error {
	b.record("hangup %s", id)
	if b.HangupErr != nil {
		return b.HangupErr
	}
	return b.End(id, callengine.PartyLocal, callengine.ReasonUserHangup)
}

// SetAudioMuted implements ui.Calls (and mutes our tile of a group call).
func (b *Backend) SetAudioMuted(ctx context.Context, id string, m bool) error {
	b.record("mute-audio %s %v", id, m)
	b.updateLocal(id, func(p *ui.Participant) { p.AudioMuted = m })
	return b.Update(id, func(c *callengine.CallInfo) { c.AudioMuted = m })
}

// SetVideoMuted implements ui.Calls (and our tile of a group call).
func (b *Backend) SetVideoMuted(ctx context.Context, id string, m bool) error {
	b.record("mute-video %s %v", id, m)
	b.updateLocal(id, func(p *ui.Participant) { p.VideoMuted = m })
	return b.Update(id, func(c *callengine.CallInfo) { c.VideoMuted = m })
}

// SetHold implements ui.Calls.
func (b *Backend) SetHold(ctx context.Context, id string, h bool) error {
	b.record("hold %s %v", id, h)
	return b.Update(id, func(c *callengine.CallInfo) { c.OnHold = h })
}

// ---- Media ----

// Devices implements ui.Media with two of each kind.
func (b *Backend) Devices(ctx context.Context, k ui.DeviceKind) ([]ui.Device, error) {
	switch k {
	case ui.Camera:
		return []ui.Device{{ID: "cam0", Label: "Integrated Camera"}, {ID: "test", Label: "Test pattern"}}, nil
	case ui.Microphone:
		return []ui.Device{{ID: "mic0", Label: "Built-in Microphone"}, {ID: "mic1", Label: "USB Headset"}}, nil
	case ui.Speaker:
		return []ui.Device{{ID: "spk0", Label: "Built-in Speakers"}, {ID: "spk1", Label: "USB Headset"}}, nil
	}
	return nil, nil
}

// Resolutions implements ui.Media.
func (b *Backend) Resolutions() []ui.Resolution {
	return []ui.Resolution{{Width: 640, Height: 360}, {Width: 640, Height: 480}, {Width: 1280, Height: 720}}
}

// Settings implements ui.Media.
func (b *Backend) Settings() ui.Settings {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.settings
}

// ApplySettings implements ui.Media.
func (b *Backend) ApplySettings(ctx context.Context, s ui.Settings) error {
	b.record("settings %+v", s)
	b.mu.Lock()
	b.settings = s
	b.mu.Unlock()
	return nil
}

// RemoteVideo implements ui.Media: RemoteSlot, once the call connected
// (like a real decoder, which has nothing before).
func (b *Backend) RemoteVideo(callID string) ui.FrameSource {
	b.mu.Lock()
	ok := b.media[callID]
	b.mu.Unlock()
	if b.RemoteSlot == nil || !ok {
		return nil
	}
	return b.RemoteSlot
}

// LocalVideo implements ui.Media.
func (b *Backend) LocalVideo() ui.FrameSource {
	if b.LocalSlot == nil {
		return nil
	}
	return b.LocalSlot
}

// StartPreview implements ui.Media.
func (b *Backend) StartPreview(ctx context.Context) (func(), error) {
	b.record("preview start")
	var once sync.Once
	return func() { once.Do(func() { b.record("preview stop") }) }, nil
}

// ---- Sounds ----

// Play implements ui.Sounds: it only counts what is playing.
func (b *Backend) Play(wav []byte, loop bool) func() {
	name := fmt.Sprintf("%d bytes", len(wav))
	b.record("play %s loop=%v", name, loop)
	b.mu.Lock()
	b.playing[name]++
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.record("stop %s", name)
			b.mu.Lock()
			b.playing[name]--
			if b.playing[name] == 0 {
				delete(b.playing, name)
			}
			b.mu.Unlock()
		})
	}
}

// Playing returns how many sounds are playing now.
func (b *Backend) Playing() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, c := range b.playing {
		n += c
	}
	return n
}
