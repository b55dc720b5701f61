package matrixrtc

import (
	"encoding/json"
	"time"
)

// Ringing event types (RTC-NOTES §1c).
const (
	// TypeRTCNotification is the ring/notification the first joiner
	// sends after its membership (MSC4075, current form).
	TypeRTCNotification = "org.matrix.msc4075.rtc.notification"
	// TypeCallNotify is the older form of the ring, accepted on receive.
	TypeCallNotify = "org.matrix.msc4075.call.notify"
	// TypeRTCDecline declines a ring (MSC4310).
	TypeRTCDecline = "org.matrix.msc4310.rtc.decline"
)

// Ring lifetimes.
const (
	// DefaultRingLifetime is how long we ring (MSC4075 recommends 30 s).
	DefaultRingLifetime = 30 * time.Second
	// MaxRingLifetime caps a received ring's lifetime (js-sdk caps at
	// 90 s).
	MaxRingLifetime = 90 * time.Second
)

// TypeLeftRoom is the type of a pseudo-event (no state key, no content)
// that tells a Tracker we left RoomID: it forgets the room's call and
// rings.
const TypeLeftRoom = "mxcall.left_room"

// RoomEvent is one room event relevant to MatrixRTC as the Matrix client
// hands it over from /sync: call memberships (state or timeline section),
// ring notifications and declines.
type RoomEvent struct {
	RoomID, EventID, Sender, Type string
	// StateKey is nil for message events.
	StateKey *string
	// OriginServerTS is the event's origin_server_ts in Unix
	// milliseconds.
	OriginServerTS int64
	// Age is unsigned.age as received (0 when absent).
	Age time.Duration
	// Received is when our sync delivered it.
	Received time.Time
	// Encrypted is true when the event arrived encrypted.
	Encrypted bool
	Content   json.RawMessage
}

// Ring is an incoming ring: someone started a call in a room and rings its
// members.
type Ring struct {
	RoomID string
	// EventID is the notification's event ID (a decline relates to it).
	EventID string
	// Sender is the user who rings.
	Sender string
	// Video is true when the call's intent is video (m.call.intent).
	Video bool
	// Expires is when the ring stops by itself.
	Expires time.Time
	// Legacy is true for the older call.notify form.
	Legacy bool
}

// RingEnd says why an incoming ring stopped.
type RingEnd int

// Reasons a ring stops.
const (
	RingTimedOut          RingEnd = iota + 1 // its lifetime passed
	RingCallerLeft                           // the caller left the call (no one is in it)
	RingAnsweredHere                         // we joined the call on this device
	RingAnsweredElsewhere                    // another of our devices joined
	RingDeclined                             // we declined it (here or on another device)
)

var ringEndNames = [...]string{"", "timed_out", "caller_left", "answered_here", "answered_elsewhere", "declined"}

func (r RingEnd) String() string {
	if r <= 0 || int(r) >= len(ringEndNames) {
		return "unknown"
	}
	return ringEndNames[r]
}

// RingContent is the content of the ring we send after joining (Session
// sends it; exported for tests and other senders).
func RingContent(membershipEventID string, video bool, lifetime time.Duration, now time.Time) map[string]any {
	intent := "audio"
	if video {
		intent = "video"
	}
	return map[string]any{
		"m.mentions":        map[string]any{"user_ids": []string{}, "room": true},
		"notification_type": "ring",
		"m.relates_to":      map[string]any{"rel_type": "m.reference", "event_id": membershipEventID},
		"sender_ts":         now.UnixMilli(),
		"lifetime":          lifetime.Milliseconds(),
		"m.call.intent":     intent,
	}
}

// DeclineContent is the content of a decline of the ring notificationID.
func DeclineContent(notificationID string) map[string]any {
	return map[string]any{"m.relates_to": map[string]any{"rel_type": "m.reference", "event_id": notificationID}}
}
