package callengine

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Matrix VoIP v1 event types.
const (
	EventInvite                   = "m.call.invite"
	EventCandidates               = "m.call.candidates"
	EventAnswer                   = "m.call.answer"
	EventSelectAnswer             = "m.call.select_answer"
	EventReject                   = "m.call.reject"
	EventNegotiate                = "m.call.negotiate"
	EventSDPStreamMetadataChanged = "m.call.sdp_stream_metadata_changed"
	EventHangup                   = "m.call.hangup"
)

// Limits applied when parsing untrusted call events.
const (
	// MaxContentBytes bounds the raw JSON content of one call event.
	MaxContentBytes = 256 << 10
	// MaxSDPBytes bounds one SDP blob.
	MaxSDPBytes = 128 << 10
	// MaxCandidates bounds the candidates in one m.call.candidates event.
	MaxCandidates = 128
	// MaxCandidateBytes bounds one candidate line.
	MaxCandidateBytes = 1024
	// MaxStreams bounds the entries of sdp_stream_metadata.
	MaxStreams = 32
	// MaxLifetime bounds lifetimes (one day, in ms); larger values are clamped.
	MaxLifetime = 24 * 60 * 60 * 1000
	maxIDLen    = 255
	maxUserID   = 255
)

// Stream purposes in sdp_stream_metadata.
const (
	PurposeUserMedia   = "m.usermedia"
	PurposeScreenshare = "m.screenshare"
)

// Version is the VoIP protocol version of an event: 0 for legacy peers,
// 1 for everything else. It marshals as the string "1" (or the number 0).
type Version int

// Protocol versions.
const (
	Version0 Version = 0
	Version1 Version = 1
	// versionMissing marks, while parsing, a content without "version".
	versionMissing Version = -1
)

// MarshalJSON writes 0 for legacy and "1" otherwise.
func (v Version) MarshalJSON() ([]byte, error) {
	if v == Version0 {
		return []byte("0"), nil
	}
	return []byte(`"1"`), nil
}

// UnmarshalJSON reads the number 0 as legacy and any other string or
// number as v1; null, objects, arrays and booleans are malformed.
//
// The spec makes version a string ("1"; a string so that experimental
// versions need not be integers) that must also accept the integer 0 of
// the previous version, and says that any version other than 0 or "1",
// "including, for example, the numeric value 1", is treated as "1": later
// versions stay backwards-compatible or use other event types. So other
// strings (the string "0" too) and numbers are v1, as matrix-js-sdk treats
// every version but the number 0. A value that is neither a string nor a
// number is no version of anything: the content is malformed.
func (v *Version) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return fmt.Errorf("%w: empty version", ErrMalformedEvent)
	}
	switch c := b[0]; {
	case c == '"':
		*v = Version1
	case c == '-' || c >= '0' && c <= '9':
		*v = Version1
		if isZeroNumber(b) {
			*v = Version0
		}
	default:
		if len(b) > 16 {
			b = append(b[:16:16], "..."...)
		}
		return fmt.Errorf("%w: version %s is neither a string nor a number", ErrMalformedEvent, b)
	}
	return nil
}

// isZeroNumber reports whether the JSON number b is zero (0, -0, 0.0,
// 0e5, ...): whether its digits before any exponent are all 0.
func isZeroNumber(b []byte) bool {
	for _, c := range b {
		switch {
		case c == 'e' || c == 'E':
			return true
		case c >= '1' && c <= '9':
			return false
		}
	}
	return true
}

// SessionDescription is an SDP offer or answer as carried in call events.
type SessionDescription struct {
	Type string `json:"type"`
	SDP  string `json:"sdp"`
}

// StreamMetadata describes one media stream (msid) of a party.
type StreamMetadata struct {
	Purpose    string `json:"purpose"`
	AudioMuted bool   `json:"audio_muted"`
	VideoMuted bool   `json:"video_muted"`
}

// Candidate is one ICE candidate. Candidate == "" marks end-of-candidates.
type Candidate struct {
	Candidate     string  `json:"candidate"`
	SDPMid        *string `json:"sdpMid,omitempty"`
	SDPMLineIndex *uint16 `json:"sdpMLineIndex,omitempty"`
}

// Base holds the fields every call event carries.
type Base struct {
	CallID  string  `json:"call_id"`
	PartyID string  `json:"party_id,omitempty"`
	Version Version `json:"version"`
}

// Invite is the content of m.call.invite.
type Invite struct {
	Base
	Offer          SessionDescription        `json:"offer"`
	Lifetime       int64                     `json:"lifetime"`
	Invitee        string                    `json:"invitee,omitempty"`
	StreamMetadata map[string]StreamMetadata `json:"sdp_stream_metadata,omitempty"`
	// UnstableStreamMetadata mirrors StreamMetadata under Element's key.
	UnstableStreamMetadata map[string]StreamMetadata `json:"org.matrix.msc3077.sdp_stream_metadata,omitempty"`
}

// Candidates is the content of m.call.candidates.
type Candidates struct {
	Base
	Candidates []Candidate `json:"candidates"`
}

// Answer is the content of m.call.answer.
type Answer struct {
	Base
	Answer         SessionDescription        `json:"answer"`
	StreamMetadata map[string]StreamMetadata `json:"sdp_stream_metadata,omitempty"`
	// UnstableStreamMetadata mirrors StreamMetadata under Element's key.
	UnstableStreamMetadata map[string]StreamMetadata `json:"org.matrix.msc3077.sdp_stream_metadata,omitempty"`
}

// SelectAnswer is the content of m.call.select_answer.
type SelectAnswer struct {
	Base
	SelectedPartyID string `json:"selected_party_id"`
}

// Reject is the content of m.call.reject.
type Reject struct {
	Base
}

// Negotiate is the content of m.call.negotiate.
type Negotiate struct {
	Base
	Description    SessionDescription        `json:"description"`
	Lifetime       int64                     `json:"lifetime,omitempty"`
	StreamMetadata map[string]StreamMetadata `json:"sdp_stream_metadata,omitempty"`
	// UnstableStreamMetadata mirrors StreamMetadata under Element's key.
	UnstableStreamMetadata map[string]StreamMetadata `json:"org.matrix.msc3077.sdp_stream_metadata,omitempty"`
}

// StreamMetadataChanged is the content of m.call.sdp_stream_metadata_changed.
type StreamMetadataChanged struct {
	Base
	StreamMetadata map[string]StreamMetadata `json:"sdp_stream_metadata"`
	// UnstableStreamMetadata mirrors StreamMetadata under Element's key.
	UnstableStreamMetadata map[string]StreamMetadata `json:"org.matrix.msc3077.sdp_stream_metadata,omitempty"`
}

// Hangup is the content of m.call.hangup.
type Hangup struct {
	Base
	Reason EndReason `json:"reason,omitempty"`
}

// Content is implemented by every parsed call event content.
type Content interface {
	base() *Base
}

func (b *Base) base() *Base { return b }

// ParseContent parses and validates the content of a call event of type
// evType. It never panics; bad input gives an error wrapping one of
// ErrMalformedEvent, ErrInvalidID, ErrTooLarge or ErrUnknownEventType.
func ParseContent(evType string, raw []byte) (Content, error) {
	if len(raw) > MaxContentBytes {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(raw))
	}
	var c Content
	switch evType {
	case EventInvite:
		c = &Invite{}
	case EventCandidates:
		c = &Candidates{}
	case EventAnswer:
		c = &Answer{}
	case EventSelectAnswer:
		c = &SelectAnswer{}
	case EventReject:
		c = &Reject{}
	case EventNegotiate:
		c = &Negotiate{}
	case EventSDPStreamMetadataChanged:
		c = &StreamMetadataChanged{}
	case EventHangup:
		c = &Hangup{}
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnknownEventType, evType)
	}
	c.base().Version = versionMissing
	if err := json.Unmarshal(raw, c); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformedEvent, evType, err)
	}
	if err := validate(c); err != nil {
		return nil, fmt.Errorf("%s: %w", evType, err)
	}
	return c, nil
}

func validate(c Content) error {
	b := c.base()
	if b.Version == versionMissing {
		return fmt.Errorf("%w: no version", ErrMalformedEvent)
	}
	if !ValidID(b.CallID) {
		return fmt.Errorf("%w: call_id", ErrInvalidID)
	}
	if b.PartyID != "" && !ValidID(b.PartyID) {
		return fmt.Errorf("%w: party_id", ErrInvalidID)
	}
	switch v := c.(type) {
	case *Invite:
		if err := validateDescription(v.Offer, "offer"); err != nil {
			return err
		}
		if v.Lifetime <= 0 {
			return fmt.Errorf("%w: lifetime %d", ErrMalformedEvent, v.Lifetime)
		}
		v.Lifetime = min(v.Lifetime, MaxLifetime)
		if len(v.Invitee) > maxUserID {
			return fmt.Errorf("%w: invitee", ErrTooLarge)
		}
		return readMetadata(&v.StreamMetadata, &v.UnstableStreamMetadata)
	case *Answer:
		if err := validateDescription(v.Answer, "answer"); err != nil {
			return err
		}
		return readMetadata(&v.StreamMetadata, &v.UnstableStreamMetadata)
	case *Negotiate:
		if err := validateDescription(v.Description, ""); err != nil {
			return err
		}
		if v.Lifetime < 0 {
			return fmt.Errorf("%w: lifetime %d", ErrMalformedEvent, v.Lifetime)
		}
		return readMetadata(&v.StreamMetadata, &v.UnstableStreamMetadata)
	case *StreamMetadataChanged:
		return readMetadata(&v.StreamMetadata, &v.UnstableStreamMetadata)
	case *Candidates:
		if len(v.Candidates) > MaxCandidates {
			return fmt.Errorf("%w: %d candidates", ErrTooLarge, len(v.Candidates))
		}
		for _, cand := range v.Candidates {
			if len(cand.Candidate) > MaxCandidateBytes {
				return fmt.Errorf("%w: candidate line", ErrTooLarge)
			}
			if cand.SDPMid != nil && len(*cand.SDPMid) > maxIDLen {
				return fmt.Errorf("%w: sdpMid", ErrTooLarge)
			}
		}
	case *SelectAnswer:
		if !ValidID(v.SelectedPartyID) {
			return fmt.Errorf("%w: selected_party_id", ErrInvalidID)
		}
	case *Hangup:
		if len(v.Reason) > maxIDLen {
			return fmt.Errorf("%w: reason", ErrTooLarge)
		}
	}
	return nil
}

func validateDescription(d SessionDescription, wantType string) error {
	if wantType != "" && d.Type != wantType {
		return fmt.Errorf("%w: description type %q, want %q", ErrMalformedEvent, d.Type, wantType)
	}
	if d.Type != "offer" && d.Type != "answer" {
		return fmt.Errorf("%w: description type %q", ErrMalformedEvent, d.Type)
	}
	if d.SDP == "" {
		return fmt.Errorf("%w: empty sdp", ErrMalformedEvent)
	}
	if len(d.SDP) > MaxSDPBytes {
		return fmt.Errorf("%w: sdp of %d bytes", ErrTooLarge, len(d.SDP))
	}
	return nil
}

// readMetadata falls back to Element's unstable key when the stable one is
// absent, and bounds the number of streams.
func readMetadata(stable, unstable *map[string]StreamMetadata) error {
	if *stable == nil {
		*stable = *unstable
	}
	*unstable = nil
	if len(*stable) > MaxStreams {
		return fmt.Errorf("%w: %d streams", ErrTooLarge, len(*stable))
	}
	return nil
}

// ValidID reports whether s is a valid call_id or party_id: 1–255
// characters of [0-9a-zA-Z._~-].
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c == '.', c == '_', c == '~', c == '-':
		default:
			return false
		}
	}
	return true
}
