package callengine

import (
	"context"
	"encoding/json"
	"time"

	"github.com/pion/webrtc/v4"
)

// Signaller sends call events into a Matrix room. matrixclient implements
// it over the homeserver; tests implement it with an in-memory room.
// Send must be safe for concurrent use; it returns once the event is
// accepted (or has finally failed).
type Signaller interface {
	SendCallEvent(ctx context.Context, roomID, evType string, content any) error
}

// RoomEvent is one event from a room's timeline as the engine sees it.
type RoomEvent struct {
	RoomID  string
	EventID string
	Sender  string // Matrix user ID
	Type    string
	Content json.RawMessage
	// Age is the event's unsigned.age as the server reported it.
	Age time.Duration
	// Received is when the sync response carrying the event arrived.
	Received time.Time
}

// State is the state of one call.
type State int

// Call states. Outgoing: Gathering → InviteSent → Connecting → Connected →
// Ended. Incoming: Ringing → Answering → Connecting → Connected → Ended.
const (
	StateUnknown State = iota
	StateGathering
	StateInviteSent
	StateRinging
	StateAnswering
	StateConnecting
	StateConnected
	StateEnded
)

var stateNames = [...]string{"unknown", "gathering", "invite_sent", "ringing", "answering", "connecting", "connected", "ended"}

func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return "unknown"
	}
	return stateNames[s]
}

// transitions lists the states each state may move to.
var transitions = map[State][]State{
	StateUnknown:    {StateGathering, StateRinging},
	StateGathering:  {StateInviteSent, StateEnded},
	StateInviteSent: {StateConnecting, StateEnded},
	StateRinging:    {StateAnswering, StateEnded},
	StateAnswering:  {StateConnecting, StateEnded},
	StateConnecting: {StateConnected, StateEnded},
	StateConnected:  {StateConnecting, StateEnded},
	StateEnded:      nil,
}

// CanTransition reports whether the state machine allows from → to.
func CanTransition(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Direction tells who placed the call.
type Direction int

// Call directions.
const (
	DirectionUnknown Direction = iota
	Outgoing
	Incoming
)

func (d Direction) String() string {
	switch d {
	case Outgoing:
		return "outgoing"
	case Incoming:
		return "incoming"
	}
	return "unknown"
}

// EndReason says why a call ended. The first seven are the spec's hangup
// reasons; the rest describe endings that send no hangup reason.
type EndReason string

// End reasons.
const (
	ReasonICEFailed       EndReason = "ice_failed"
	ReasonICETimeout      EndReason = "ice_timeout"
	ReasonInviteTimeout   EndReason = "invite_timeout"
	ReasonUserHangup      EndReason = "user_hangup"
	ReasonUserMediaFailed EndReason = "user_media_failed"
	ReasonUserBusy        EndReason = "user_busy"
	ReasonUnknownError    EndReason = "unknown_error"

	// ReasonRejected: the callee declined (m.call.reject).
	ReasonRejected EndReason = "rejected"
	// ReasonAnsweredElsewhere: another device of ours answered or rejected,
	// or the caller selected another device's answer.
	ReasonAnsweredElsewhere EndReason = "answered_elsewhere"
	// ReasonReplaced: glare; this call was dropped for the peer's call.
	ReasonReplaced EndReason = "replaced"
	// ReasonSignallingFailed: a call event could not be sent.
	ReasonSignallingFailed EndReason = "signalling_failed"
)

// Party says who ended a call.
type Party int

// Parties.
const (
	PartyUnknown Party = iota
	PartyLocal
	PartyRemote
)

func (p Party) String() string {
	switch p {
	case PartyLocal:
		return "local"
	case PartyRemote:
		return "remote"
	}
	return "unknown"
}

// CallInfo is an immutable snapshot of a call, handed to OnUpdate.
type CallInfo struct {
	ID        string
	RoomID    string
	Peer      string // the other user's ID
	Direction Direction
	State     State
	Video     bool // the call was placed or answered with video
	// EndedBy and EndReason are set once State is StateEnded.
	EndedBy   Party
	EndReason EndReason

	AudioMuted       bool // our microphone is muted
	VideoMuted       bool // our camera is muted
	RemoteAudioMuted bool // the peer said its microphone is muted
	RemoteVideoMuted bool // the peer said its camera is muted
	OnHold           bool // we hold the peer (we offer sendonly, RFC 3264 §8.4; js-sdk's isRemoteOnHold); we send no media
	RemoteOnHold     bool // the peer holds us (it takes nothing from us; js-sdk's isLocalOnHold); we send no media
	Relay            bool // the selected ICE pair goes through TURN
	// Screensharing: we send a screen share (StartScreenshare) as a second
	// video stream with purpose m.screenshare.
	Screensharing bool
	// RemoteScreenshare: the peer sends a screen share, that is its latest
	// sdp_stream_metadata lists an m.screenshare stream and its latest
	// description still carries that stream (an msid for it). It turns
	// false when the peer stops sharing (a negotiate without the stream or
	// without its metadata); its RemoteTrack then ends. A share started
	// again arrives as a new RemoteTrack.
	RemoteScreenshare bool

	// Created is when the call object was created; ConnectedAt when ICE
	// first connected (zero until then).
	Created     time.Time
	ConnectedAt time.Time
}

// Media is what the local side sends in a call: tracks sharing one
// stream ID. Nil tracks are allowed (receive only).
type Media struct {
	Audio webrtc.TrackLocal
	Video webrtc.TrackLocal
}

// KeyframeRequester is implemented by local video tracks that can make a
// key frame on demand (mxcall's media tracks do). The engine asks for one
// the moment the peer connection is connected (DTLS done): frames encoded
// before that were dropped by SRTP, so without it the peer would wait for
// a key frame until its own request (PLI) made the round trip.
type KeyframeRequester interface {
	RequestKeyframe()
}

// RemoteTrack is a remote media track of a call handed to OnTrack.
type RemoteTrack struct {
	CallID   string
	Track    *webrtc.TrackRemote
	Receiver *webrtc.RTPReceiver
	Purpose  string
}
