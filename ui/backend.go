package ui

import (
	"context"
	"image"
	"time"

	"github.com/mxcall/mxcall/callengine"
)

// Session describes the logged-in account.
type Session struct {
	UserID      string // @alice:example.org
	DeviceID    string
	Homeserver  string // base URL, e.g. https://matrix.example.org
	DisplayName string // may be empty
}

// Auth logs in and out.
type Auth interface {
	// Discover returns the homeserver base URL for userID, found through
	// the server's /.well-known/matrix/client (or https://<server> when it
	// has none). Errors wrap ErrInvalidUserID or ErrUnreachable.
	Discover(ctx context.Context, userID string) (homeserverURL string, err error)
	// Login logs in with a password and starts syncing. Errors wrap
	// ErrBadCredentials, ErrUnreachable or ErrNotMatrix when they apply.
	Login(ctx context.Context, homeserverURL, userID, password string) (Session, error)
	// Resume restores a stored session (from the keyring) and starts
	// syncing; ok is false when there is none.
	Resume(ctx context.Context) (s Session, ok bool, err error)
	// Logout ends the session on the server and forgets it locally.
	Logout(ctx context.Context) error
}

// Room is one joined room as the room list shows it.
type Room struct {
	ID   string
	Name string // display name of the room (for a DM: the peer's display name)
	// Peer is the other member's user ID when the room is a direct chat.
	Peer string
	// DM is true for direct chats (m.direct or a two-member is_direct room).
	DM bool
	// Avatar is the room or peer avatar, already downloaded; nil means
	// the UI draws initials.
	Avatar image.Image
	// LastActive orders rooms inside their group (newest first).
	LastActive time.Time
	// Encrypted is true when the room is end-to-end encrypted.
	Encrypted bool
	// Trust says whether the peer's devices are verified; it is only
	// meaningful in encrypted direct chats.
	Trust Trust
	// CallMembers is how many devices are in the room's MatrixRTC call
	// right now (0: no call in progress). The room list marks such rooms
	// and offers Join.
	CallMembers int
}

// Trust is what we know about the peer's devices in an encrypted room.
type Trust int

// Trust values. The zero value means not known (yet): the backend fetches
// device lists in the background.
const (
	TrustUnknown    Trust = iota
	TrustVerified         // every device of the peer is verified
	TrustUnverified       // at least one device of the peer is not verified
)

// String returns a lower-case name of the trust state.
func (t Trust) String() string {
	switch t {
	case TrustVerified:
		return "verified"
	case TrustUnverified:
		return "unverified"
	}
	return "unknown"
}

// MissedCall is an encrypted event in a one-to-one room that could not be
// decrypted. It may have been a call invite; the room list shows it as a
// missed call that could not be read.
type MissedCall struct {
	RoomID     string
	EventID    string // identifies the entry (the UI dismisses by it)
	Sender     string // user ID
	SenderName string // display name, may be empty
	Time       time.Time
	// Reason says in words why it could not be decrypted.
	Reason string
}

// Invite is a pending room invite.
type Invite struct {
	RoomID      string
	RoomName    string // may be empty
	Inviter     string // user ID
	InviterName string // display name, may be empty
	DM          bool
}

// SyncStatus is the state of the connection to the homeserver.
type SyncStatus int

// Sync states. The zero value is unknown (shown like SyncOK until the
// first sync finished).
const (
	SyncUnknown SyncStatus = iota
	SyncOK
	SyncConnecting // first sync or reconnecting after an error
	SyncOffline    // the last sync failed; the backend keeps retrying
)

// String returns a lower-case name of the status.
func (s SyncStatus) String() string {
	switch s {
	case SyncOK:
		return "ok"
	case SyncConnecting:
		return "connecting"
	case SyncOffline:
		return "offline"
	}
	return "unknown"
}

// RoomsSnapshot is everything the room list shows, as one immutable value.
type RoomsSnapshot struct {
	Rooms   []Room
	Invites []Invite
	// Missed are undecryptable events from one-to-one rooms, oldest first.
	Missed []MissedCall
	Sync   SyncStatus
	// NoTURN is true when the homeserver offers no TURN server, so calls
	// across NATs may fail.
	NoTURN bool
}

// Rooms is the room list side of the Matrix client.
type Rooms interface {
	// SubscribeRooms calls fn with the current snapshot at once and again
	// after every change, until cancel is called. fn may run on any
	// goroutine and must not block; the UI hands it to fyne.Do.
	SubscribeRooms(fn func(RoomsSnapshot)) (cancel func())
	// CreateDM returns the direct chat with userID, creating it (and
	// inviting userID) when none exists.
	CreateDM(ctx context.Context, userID string) (roomID string, err error)
	// AcceptInvite joins the invited room.
	AcceptInvite(ctx context.Context, roomID string) error
	// DeclineInvite leaves the invited room.
	DeclineInvite(ctx context.Context, roomID string) error
}

// Calls places and controls calls; package backend backs it with callengine.Engine
// and the media pipeline (which it picks from the current Settings).
type Calls interface {
	// PlaceCall calls peerUserID in roomID, with or without video.
	PlaceCall(ctx context.Context, roomID, peerUserID string, video bool) (callID string, err error)
	// Answer answers an incoming call, with or without sending video.
	Answer(ctx context.Context, callID string, video bool) error
	// Reject declines an incoming call.
	Reject(ctx context.Context, callID string) error
	// Hangup ends a call.
	Hangup(ctx context.Context, callID string) error
	// SetAudioMuted mutes or unmutes our microphone.
	SetAudioMuted(ctx context.Context, callID string, muted bool) error
	// SetVideoMuted turns our camera off (true) or on.
	SetVideoMuted(ctx context.Context, callID string, muted bool) error
	// SetHold puts the call on hold or resumes it.
	SetHold(ctx context.Context, callID string, hold bool) error
	// StartScreenshare shares the screen or window sourceID (an ID from
	// Media.ScreenSources) in the call, alongside the camera.
	StartScreenshare(ctx context.Context, callID string, sourceID string) error
	// StopScreenshare stops sharing in the call; a no-op when not sharing.
	StopScreenshare(ctx context.Context, callID string) error
	// SubscribeCalls calls fn with every CallInfo update of every call
	// (callengine's OnUpdate) until cancel is called. fn may run on any
	// goroutine and must not block.
	SubscribeCalls(fn func(callengine.CallInfo)) (cancel func())
}

// FrameSource is a latest-frame slot: a decoder (or the camera) keeps
// storing its newest frame, the UI takes the newest one when it draws.
// Frames are never queued; a frame the UI did not take in time is dropped.
type FrameSource interface {
	// FrameInto copies the newest frame into dst when its sequence number
	// is greater than after, and returns the buffer that now holds it
	// (dst, or a new buffer when dst is nil or of another size) and its
	// sequence number. ok is false, and dst is returned untouched, when no
	// newer frame exists. Safe for concurrent use with the producer.
	FrameInto(dst *image.RGBA, after uint64) (out *image.RGBA, seq uint64, ok bool)
}

// DeviceKind says what a media device is for.
type DeviceKind int

// Device kinds.
const (
	DeviceUnknown DeviceKind = iota
	Camera
	Microphone
	Speaker
)

// String returns a lower-case name of the kind.
func (k DeviceKind) String() string {
	switch k {
	case Camera:
		return "camera"
	case Microphone:
		return "microphone"
	case Speaker:
		return "speaker"
	}
	return "unknown"
}

// Device is one camera, microphone or speaker.
type Device struct {
	ID    string // stable identifier the backend understands
	Label string // human readable
}

// Resolution is a video capture size.
type Resolution struct{ Width, Height int }

// Settings are the user's media choices. Empty IDs mean the system default.
type Settings struct {
	Camera, Microphone, Speaker string
	Resolution                  Resolution
	// LegacyCalls places one-to-one calls the legacy way (m.call.invite)
	// even when the homeserver offers MatrixRTC.
	LegacyCalls bool
}

// Media is the capture/playback side: devices, settings and video frames.
type Media interface {
	// Devices lists the devices of one kind.
	Devices(ctx context.Context, kind DeviceKind) ([]Device, error)
	// Resolutions lists the capture sizes the user may pick from.
	Resolutions() []Resolution
	// Settings returns the current choices.
	Settings() Settings
	// ApplySettings stores new choices; they apply to the next call and,
	// where possible, to the running call and preview.
	ApplySettings(ctx context.Context, s Settings) error
	// RemoteVideo is the latest-frame slot of the call's decoded remote
	// video; nil when the call has none (yet).
	RemoteVideo(callID string) FrameSource
	// LocalVideo is the latest-frame slot of our own camera, filled while a
	// call sends video or a preview runs; nil when no camera is available.
	LocalVideo() FrameSource
	// StartPreview opens the camera for the settings screen's live
	// preview (LocalVideo then yields frames) until stop is called.
	StartPreview(ctx context.Context) (stop func(), err error)
	// ScreenSources lists the screens and windows that can be shared. Its
	// error's message is shown to the user as it is (e.g. that sharing
	// needs X11 or XWayland).
	ScreenSources(ctx context.Context) ([]ScreenSource, error)
	// ScreenThumbnail is a small picture of a source, at most maxWidth
	// pixels wide, taken now (the share picker asks again about once a
	// second while it is open).
	ScreenThumbnail(ctx context.Context, id string, maxWidth int) (*image.RGBA, error)
	// RemoteScreen is the latest-frame slot of the screen the peer of a
	// one-to-one call shares; nil while the peer shares nothing.
	RemoteScreen(callID string) FrameSource
}

// ScreenSource is a screen or a window that can be shared.
type ScreenSource struct {
	// ID is what StartScreenshare and ScreenThumbnail take.
	ID string
	// Title is the screen's name or the window's title.
	Title string
	// Window is true for a window, false for a whole screen.
	Window bool
}

// Sounds plays the UI's short sounds (ringtone, ringback) on the selected
// speaker. The UI passes the bundled WAV files (assets.Ringtone etc.).
type Sounds interface {
	// Play plays a WAV file, again and again when loop is true, until stop
	// is called or (without loop) it ends. stop is idempotent.
	Play(wav []byte, loop bool) (stop func())
}

// Participant is one tile of a group (MatrixRTC) call's grid.
type Participant struct {
	// ID is a stable key for the tile (the LiveKit identity).
	ID string
	// Name is what the tile shows (display name, else user ID).
	Name string
	// Local is true for our own tile.
	Local bool
	// Video is the participant's latest-frame slot; nil when it sends
	// none.
	Video FrameSource
	// AudioMuted and VideoMuted draw the mute badges; Speaking highlights
	// the tile.
	AudioMuted, VideoMuted, Speaking bool
	// Encrypted is true when the participant's media is end-to-end
	// encrypted (ours: when we encrypt); the call view says "end-to-end
	// encrypted" only when every tile is. WaitingForKey is true while an
	// encrypted participant's key has not arrived: the tile says so
	// instead of showing a picture.
	Encrypted, WaitingForKey bool
	// Screen is true for the tile of a participant's screen share (ID
	// is then its own, Name the sharer's, Video the shared picture): the
	// grid shows it large, the other tiles beside it.
	Screen bool
}

// Group is the MatrixRTC side of the calls. Group calls appear in Calls'
// updates like any other call (callengine.CallInfo, with an ID of their
// own): Hangup leaves, Answer joins a ringing call, Reject declines it,
// and the mute controls work the same.
type Group interface {
	// JoinCall joins (or starts) the MatrixRTC call of roomID.
	JoinCall(ctx context.Context, roomID string, video bool) (callID string, err error)
	// Participants returns the tiles of a group call, ours first; nil for
	// a legacy one-to-one call (the UI then shows its usual view).
	Participants(callID string) []Participant
	// SubscribeParticipants calls fn with the call's ID whenever the
	// result of Participants changes, until cancel is called. fn may run on
	// any goroutine and must not block.
	SubscribeParticipants(fn func(callID string)) (cancel func())
}

// Backend bundles what the UI needs; package backend fills it in. Sounds may be
// nil (no ringtone); Group may be nil (no MatrixRTC calls).
type Backend struct {
	Auth   Auth
	Rooms  Rooms
	Calls  Calls
	Media  Media
	Sounds Sounds
	Group  Group
	// Verify, when set, offers device verification (emoji comparison):
	// from an encrypted DM whose peer has unverified devices, and when
	// someone asks us.
	Verify Verify
	// Security, when set, offers cross-signing set-up and the recovery
	// key, and warns about a call peer's unverified devices (issue 16).
	Security Security
}

// ---- Cross-signing, recovery key and peers' devices (issue 16) ----

// CrossSigningStatus is where our account's cross-signing stands on this
// device.
type CrossSigningStatus struct {
	// Published: the account has cross-signing keys (set up here or on
	// another device).
	Published bool
	// Trusted: this device is verified through them (it set them up, or
	// was unlocked with the recovery key).
	Trusted bool
}

// PeerTrust is what we know about one user's devices, freshly read.
type PeerTrust struct {
	UserID string
	// Verified counts their verified devices; Unverified names the others
	// (display name, else device ID).
	Verified   int
	Unverified []string
	// IdentityChanged: their cross-signing identity is not the one we
	// first saw, and we have not verified the new one.
	IdentityChanged bool
}

// Security is cross-signing and the trust in a peer's devices.
type Security interface {
	// CrossSigningStatus reports our cross-signing (waiting, within ctx,
	// for encryption to be ready after a login).
	CrossSigningStatus(ctx context.Context) (CrossSigningStatus, error)
	// SetUpCrossSigning makes our cross-signing keys (password: the
	// account's, for the homeserver) and returns the recovery key, to be
	// shown once. A wrong password wraps ErrBadCredentials.
	SetUpCrossSigning(ctx context.Context, password string) (recoveryKey string, err error)
	// UnlockCrossSigning verifies this device with the recovery key. A
	// key that is not the account's wraps ErrWrongRecoveryKey; an account
	// without one, ErrNoRecoveryKey.
	UnlockCrossSigning(ctx context.Context, recoveryKey string) error
	// PeerTrust reads userID's devices and their verification now.
	PeerTrust(ctx context.Context, userID string) (PeerTrust, error)
}
