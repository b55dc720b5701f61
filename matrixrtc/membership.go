package matrixrtc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Event types and constants of MatrixRTC memberships.
const (
	// TypeCallMember is the state-event membership type (what Element Call
	// sends in its default "compatibility" mode).
	TypeCallMember = "org.matrix.msc3401.call.member"
	// TypeRTCMember is the sticky-event membership type (matrix_2_0 mode).
	TypeRTCMember = "org.matrix.msc4143.rtc.member"
	// ApplicationCall is the application of a call.
	ApplicationCall = "m.call"
	// ScopeRoom is the scope of a room-wide call.
	ScopeRoom = "m.room"
	// SlotRoom is the slot of the room's call; its call_id on the wire is "".
	SlotRoom = "m.call#ROOM"
	// TransportLiveKit is the type of a LiveKit transport (focus).
	TransportLiveKit = "livekit"
	// SelectionMultiSFU has every member publish on its own focus.
	SelectionMultiSFU = "multi_sfu"
	// SelectionOldestMembership has every member publish on the oldest
	// member's focus.
	SelectionOldestMembership = "oldest_membership"
	// DefaultExpires is how long a membership lasts without refresh when
	// it does not say (js-sdk DEFAULT_EXPIRE_DURATION).
	DefaultExpires = 4 * time.Hour
	// MaxStickyDuration is the longest lifetime of a sticky event (MSC4354).
	MaxStickyDuration = time.Hour
	// MaxContentBytes bounds the membership contents we parse.
	MaxContentBytes = 64 << 10
	// maxTransports bounds the transports kept per membership.
	maxTransports = 16
)

// Form says which event form a membership came in.
type Form int

// Membership forms.
const (
	FormUnknown Form = iota
	// FormState is org.matrix.msc3401.call.member.
	FormState
	// FormSticky is org.matrix.msc4143.rtc.member.
	FormSticky
)

// String names the form.
func (f Form) String() string {
	switch f {
	case FormState:
		return "state"
	case FormSticky:
		return "sticky"
	default:
		return "unknown"
	}
}

// Transport is a MatrixRTC transport ("focus"). Only LiveKit transports
// carry a ServiceURL.
type Transport struct {
	Type       string `json:"type"`
	ServiceURL string `json:"livekit_service_url,omitempty"`
	// Alias is livekit_alias of the state form: the Matrix room ID.
	Alias string `json:"livekit_alias,omitempty"`
}

// IsLiveKit reports whether t is a usable LiveKit transport.
func (t Transport) IsLiveKit() bool {
	return t.Type == TransportLiveKit && validServiceURL(t.ServiceURL)
}

func validServiceURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

// FocusActive is the state form's focus_active.
type FocusActive struct {
	Type           string `json:"type"`
	FocusSelection string `json:"focus_selection,omitempty"`
}

// Membership is one device's valid membership of a call, from either form.
type Membership struct {
	Form     Form
	Sender   string
	DeviceID string
	// StateKey is the state key (state form) or the sticky key (sticky
	// form).
	StateKey    string
	Application string
	// Slot is the slot ID, "m.call#ROOM" for the room's call.
	Slot   string
	Scope  string
	Intent string
	// MemberID is membershipID (state form) or member.id (sticky form).
	MemberID string
	// Created is created_ts, or the event's origin_server_ts.
	Created time.Time
	// Expires is when the membership stops counting.
	Expires     time.Time
	FocusActive FocusActive
	// Transports are foci_preferred (state form) or rtc_transports
	// (sticky form), in the member's order.
	Transports []Transport
}

// Identity is the LiveKit participant identity the legacy /sfu/get
// endpoint gives this member: "@user:server:DEVICE".
func (m Membership) Identity() string {
	return m.Sender + ":" + m.DeviceID
}

// PublishTransport is the transport the member publishes on: its own first
// LiveKit transport (multi_sfu). ok is false when it has none.
func (m Membership) PublishTransport() (Transport, bool) {
	for _, t := range m.Transports {
		if t.IsLiveKit() {
			return t, true
		}
	}
	return Transport{}, false
}

// stateContent is the wire form of org.matrix.msc3401.call.member.
type stateContent struct {
	Application   *string      `json:"application"`
	CallID        *string      `json:"call_id"`
	Scope         string       `json:"scope,omitempty"`
	DeviceID      *string      `json:"device_id"`
	MembershipID  string       `json:"membershipID,omitempty"`
	Expires       *int64       `json:"expires,omitempty"`
	CreatedTS     *int64       `json:"created_ts,omitempty"`
	Intent        string       `json:"m.call.intent,omitempty"`
	FocusActive   *FocusActive `json:"focus_active"`
	FociPreferred []Transport  `json:"foci_preferred"`
}

// StateContent is the content of our own org.matrix.msc3401.call.member
// event, in the field order Element Call sends.
type StateContent struct {
	Application   string      `json:"application"`
	CallID        string      `json:"call_id"`
	Scope         string      `json:"scope"`
	DeviceID      string      `json:"device_id"`
	MembershipID  string      `json:"membershipID"`
	Expires       int64       `json:"expires"`
	CreatedTS     int64       `json:"created_ts,omitempty"`
	Intent        string      `json:"m.call.intent,omitempty"`
	FocusActive   FocusActive `json:"focus_active"`
	FociPreferred []Transport `json:"foci_preferred"`
}

// stickyContent is the wire form of org.matrix.msc4143.rtc.member.
type stickyContent struct {
	Application *struct {
		Type   *string `json:"type"`
		Intent string  `json:"m.call.intent"`
	} `json:"application"`
	SlotID        *string     `json:"slot_id"`
	RTCTransports []Transport `json:"rtc_transports"`
	Member        *struct {
		UserID   *string `json:"user_id"`
		DeviceID *string `json:"device_id"`
		ID       *string `json:"id"`
	} `json:"member"`
	StickyKey string `json:"msc4354_sticky_key"`
}

// StateKey is the state key of a device's call membership:
// "_{user}_{device}_m.call".
func StateKey(userID, deviceID string) string {
	return "_" + userID + "_" + deviceID + "_m.call"
}

// Parse validates one membership event of either form. It returns ErrLeft
// for a leave, ErrUnknownType for other event types and ErrMalformed for
// anything that breaks the validity rules. Expiry is not checked here (see
// Membership.Expires and NewMemberships).
func Parse(ev StateEvent) (Membership, error) {
	if len(ev.Content) > MaxContentBytes {
		return Membership{}, fmt.Errorf("%w: content of %d bytes", ErrMalformed, len(ev.Content))
	}
	switch ev.Type {
	case TypeCallMember:
		return parseState(ev)
	case TypeRTCMember:
		return parseSticky(ev)
	default:
		return Membership{}, fmt.Errorf("%w: %q", ErrUnknownType, ev.Type)
	}
}

// isEmptyObject reports whether raw is {} (whitespace allowed).
func isEmptyObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) >= 2 && t[0] == '{' && len(bytes.TrimSpace(t[1:len(t)-1])) == 0 && t[len(t)-1] == '}'
}

func parseState(ev StateEvent) (Membership, error) {
	if isEmptyObject(ev.Content) {
		return Membership{}, ErrLeft
	}
	var c stateContent
	if err := json.Unmarshal(ev.Content, &c); err != nil {
		return Membership{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	switch {
	case c.Application == nil || *c.Application == "":
		return Membership{}, fmt.Errorf("%w: no application", ErrMalformed)
	case c.CallID == nil:
		return Membership{}, fmt.Errorf("%w: no call_id", ErrMalformed)
	case c.DeviceID == nil || *c.DeviceID == "":
		return Membership{}, fmt.Errorf("%w: no device_id", ErrMalformed)
	case c.FocusActive == nil || c.FocusActive.Type == "":
		return Membership{}, fmt.Errorf("%w: no focus_active.type", ErrMalformed)
	case c.Expires != nil && *c.Expires <= 0:
		return Membership{}, fmt.Errorf("%w: expires %d", ErrMalformed, *c.Expires)
	case c.CreatedTS != nil && *c.CreatedTS <= 0:
		return Membership{}, fmt.Errorf("%w: created_ts %d", ErrMalformed, *c.CreatedTS)
	}
	// State keys starting with "_@" are not protected by the server:
	// anyone with the power level could write another user's. Accept only
	// the sender's own key for the device the content names.
	suffix := ev.Sender + "_" + *c.DeviceID + "_m.call"
	if ev.Sender == "" || (ev.StateKey != "_"+suffix && ev.StateKey != suffix) {
		return Membership{}, fmt.Errorf("%w: state key %q is not %q's for device %q", ErrMalformed, ev.StateKey, ev.Sender, *c.DeviceID)
	}
	created := ev.OriginServerTS
	if c.CreatedTS != nil {
		created = *c.CreatedTS
	}
	expires := DefaultExpires
	if c.Expires != nil {
		expires = clampDuration(*c.Expires)
	}
	slot := *c.CallID
	if slot == "" {
		slot = "ROOM"
	}
	m := Membership{
		Form: FormState, Sender: ev.Sender, DeviceID: *c.DeviceID, StateKey: ev.StateKey,
		Application: *c.Application, Slot: *c.Application + "#" + slot, Scope: c.Scope,
		Intent: c.Intent, MemberID: c.MembershipID, FocusActive: *c.FocusActive,
		Created:    time.UnixMilli(created),
		Transports: limitTransports(c.FociPreferred),
	}
	m.Expires = m.Created.Add(expires)
	return m, nil
}

func parseSticky(ev StateEvent) (Membership, error) {
	var c stickyContent
	if err := json.Unmarshal(ev.Content, &c); err != nil {
		return Membership{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if c.Application == nil && c.SlotID == nil && c.Member == nil {
		return Membership{}, ErrLeft // {} or {"msc4354_sticky_key":…}
	}
	switch {
	case c.Application == nil || c.Application.Type == nil || *c.Application.Type == "":
		return Membership{}, fmt.Errorf("%w: no application.type", ErrMalformed)
	case c.SlotID == nil || !strings.Contains(*c.SlotID, "#"):
		return Membership{}, fmt.Errorf("%w: no valid slot_id", ErrMalformed)
	case c.Member == nil || c.Member.UserID == nil || c.Member.DeviceID == nil || *c.Member.DeviceID == "" ||
		c.Member.ID == nil || *c.Member.ID == "":
		return Membership{}, fmt.Errorf("%w: incomplete member", ErrMalformed)
	case *c.Member.UserID != ev.Sender || ev.Sender == "":
		return Membership{}, fmt.Errorf("%w: member.user_id %q is not the sender %q", ErrMalformed, *c.Member.UserID, ev.Sender)
	}
	m := Membership{
		Form: FormSticky, Sender: ev.Sender, DeviceID: *c.Member.DeviceID, StateKey: c.StickyKey,
		Application: *c.Application.Type, Slot: *c.SlotID, Scope: ScopeRoom, Intent: c.Application.Intent,
		MemberID: *c.Member.ID, FocusActive: FocusActive{Type: TransportLiveKit, FocusSelection: SelectionMultiSFU},
		Created:    time.UnixMilli(ev.OriginServerTS),
		Transports: limitTransports(c.RTCTransports),
	}
	m.Expires = m.Created.Add(MaxStickyDuration)
	return m, nil
}

func clampDuration(ms int64) time.Duration {
	const maxMS = int64(365 * 24 * time.Hour / time.Millisecond)
	return time.Duration(min(ms, maxMS)) * time.Millisecond
}

func limitTransports(ts []Transport) []Transport {
	if len(ts) > maxTransports {
		ts = ts[:maxTransports]
	}
	if len(ts) == 0 {
		return nil
	}
	return append([]Transport(nil), ts...)
}

// NewStateContent builds our state-event membership: application m.call,
// the room's slot, multi_sfu on transport, and expires counted from created
// (zero created: omitted, so receivers use origin_server_ts, as js-sdk does
// on the first join).
func NewStateContent(userID, deviceID, roomID string, transport Transport, intent string, expires time.Duration, created time.Time) StateContent {
	if expires <= 0 {
		expires = DefaultExpires
	}
	transport.Alias = roomID
	c := StateContent{
		Application: ApplicationCall, CallID: "", Scope: ScopeRoom, DeviceID: deviceID,
		MembershipID: userID + ":" + deviceID, Expires: expires.Milliseconds(), Intent: intent,
		FocusActive:   FocusActive{Type: TransportLiveKit, FocusSelection: SelectionMultiSFU},
		FociPreferred: []Transport{transport},
	}
	if !created.IsZero() {
		c.CreatedTS = created.UnixMilli()
	}
	return c
}

// LeaveContent is the content that ends a state-event membership.
func LeaveContent() map[string]any {
	return map[string]any{}
}

// Memberships is a snapshot of a room's valid, unexpired call memberships,
// sorted by creation time.
type Memberships struct {
	Room    string
	At      time.Time
	Members []Membership
}

// NewMemberships computes the snapshot from room state: membership events
// of either form plus the room's m.room.member events (senders that are not
// joined are ignored). Invalid, left and expired memberships are dropped;
// for the same sender and device the newest one wins.
func NewMemberships(roomID string, events []StateEvent, now time.Time) Memberships {
	joined := map[string]bool{}
	for _, ev := range events {
		if ev.Type == "m.room.member" {
			joined[ev.StateKey] = memberJoined(ev.Content)
		}
	}
	type key struct{ sender, device, slot string }
	best := map[key]Membership{}
	for _, ev := range events {
		m, err := Parse(ev)
		if err != nil || !joined[m.Sender] || !now.Before(m.Expires) {
			continue
		}
		k := key{m.Sender, m.DeviceID, m.Slot}
		if old, ok := best[k]; !ok || m.Created.After(old.Created) {
			best[k] = m
		}
	}
	s := Memberships{Room: roomID, At: now}
	for _, m := range best {
		s.Members = append(s.Members, m)
	}
	sort.Slice(s.Members, func(i, j int) bool {
		a, b := s.Members[i], s.Members[j]
		if !a.Created.Equal(b.Created) {
			return a.Created.Before(b.Created)
		}
		return a.Identity() < b.Identity()
	})
	return s
}

func memberJoined(raw json.RawMessage) bool {
	var c struct {
		Membership string `json:"membership"`
	}
	return json.Unmarshal(raw, &c) == nil && c.Membership == "join"
}

// Slot returns the memberships of one slot (SlotRoom for the room's call).
func (s Memberships) Slot(slot string) []Membership {
	var out []Membership
	for _, m := range s.Members {
		if m.Slot == slot {
			out = append(out, m)
		}
	}
	return out
}

// Transports returns the distinct LiveKit transports the members of slot
// publish on, oldest member first.
func (s Memberships) Transports(slot string) []Transport {
	var out []Transport
	seen := map[string]bool{}
	for _, m := range s.Slot(slot) {
		if t, ok := m.PublishTransport(); ok && !seen[t.ServiceURL] {
			seen[t.ServiceURL] = true
			out = append(out, Transport{Type: t.Type, ServiceURL: t.ServiceURL})
		}
	}
	return out
}
