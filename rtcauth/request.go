package rtcauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

// MaxBodyBytes is the largest request body the service reads.
const MaxBodyBytes = 64 << 10

// maxIDBytes bounds every identifier in a request (Matrix IDs are at most 255
// bytes; device and member IDs have no limit in the spec, so they get the same).
const maxIDBytes = 255

// OpenIDToken is the token a client got from its homeserver's
// /_matrix/client/v3/user/{userId}/openid/request_token.
type OpenIDToken struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	MatrixServerName string `json:"matrix_server_name"`
	// ExpiresIn is not used: the homeserver decides whether the token is
	// still valid (Dendrite even puts an absolute time here).
	ExpiresIn json.Number `json:"expires_in"`
}

// SFUGetRequest is the body of POST /sfu/get (the legacy form that Element
// Call's default "compatibility" mode sends).
type SFUGetRequest struct {
	Room        string      `json:"room"`
	OpenIDToken OpenIDToken `json:"openid_token"`
	DeviceID    string      `json:"device_id"`
	// Delayed-leave delegation fields: accepted and ignored.
	DelayID       string      `json:"delay_id,omitempty"`
	DelayTimeout  json.Number `json:"delay_timeout,omitempty"`
	DelayCSAPIURL string      `json:"delay_cs_api_url,omitempty"`
}

// Member is the requester's MatrixRTC membership in a GetTokenRequest.
type Member struct {
	ID              string `json:"id"`
	ClaimedUserID   string `json:"claimed_user_id"`
	ClaimedDeviceID string `json:"claimed_device_id"`
}

// GetTokenRequest is the body of POST /get_token.
type GetTokenRequest struct {
	RoomID      string      `json:"room_id"`
	SlotID      string      `json:"slot_id"`
	OpenIDToken OpenIDToken `json:"openid_token"`
	Member      Member      `json:"member"`
	// Delayed-leave delegation fields: accepted and ignored.
	DelayID       string      `json:"delay_id,omitempty"`
	DelayTimeout  json.Number `json:"delay_timeout,omitempty"`
	DelayCSAPIURL string      `json:"delay_cs_api_url,omitempty"`
}

// ParseSFUGetRequest decodes and checks a /sfu/get body. Errors wrap
// ErrTooLarge, ErrNotJSON or ErrBadJSON.
func ParseSFUGetRequest(body []byte) (SFUGetRequest, error) {
	var r SFUGetRequest
	if err := decodeStrict(body, &r); err != nil {
		return SFUGetRequest{}, err
	}
	if err := firstError(
		checkID("room", r.Room),
		checkID("device_id", r.DeviceID),
		checkToken(r.OpenIDToken),
	); err != nil {
		return SFUGetRequest{}, err
	}
	return r, nil
}

// ParseGetTokenRequest decodes and checks a /get_token body. Errors wrap
// ErrTooLarge, ErrNotJSON or ErrBadJSON.
func ParseGetTokenRequest(body []byte) (GetTokenRequest, error) {
	var r GetTokenRequest
	if err := decodeStrict(body, &r); err != nil {
		return GetTokenRequest{}, err
	}
	if err := firstError(
		checkID("room_id", r.RoomID),
		checkID("slot_id", r.SlotID),
		checkID("member.id", r.Member.ID),
		checkID("member.claimed_user_id", r.Member.ClaimedUserID),
		checkID("member.claimed_device_id", r.Member.ClaimedDeviceID),
		checkToken(r.OpenIDToken),
	); err != nil {
		return GetTokenRequest{}, err
	}
	return r, nil
}

// decodeStrict decodes exactly one JSON object into v, refusing unknown
// fields and trailing data.
func decodeStrict(body []byte, v any) error {
	if len(body) > MaxBodyBytes {
		return ErrTooLarge
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrNotJSON, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: data after the JSON object", ErrNotJSON)
	}
	return nil
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func checkID(name, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%w: %s is missing", ErrBadJSON, name)
	case len(v) > maxIDBytes:
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrBadJSON, name, maxIDBytes)
	}
	return nil
}

func checkToken(t OpenIDToken) error {
	if t.AccessToken == "" {
		return fmt.Errorf("%w: openid_token.access_token is missing", ErrBadJSON)
	}
	if len(t.AccessToken) > 4096 {
		return fmt.Errorf("%w: openid_token.access_token is too long", ErrBadJSON)
	}
	if !ValidServerName(t.MatrixServerName) {
		return fmt.Errorf("%w: openid_token.matrix_server_name is not a server name", ErrBadJSON)
	}
	return nil
}

// ValidServerName reports whether s is a Matrix server name: a DNS name, an
// IPv4 address or a bracketed IPv6 address, with an optional port.
func ValidServerName(s string) bool {
	if s == "" || len(s) > maxIDBytes {
		return false
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		host, port = s[1:end], s[end+1:]
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil {
			return false
		}
		if port == "" {
			return true
		}
		if port[0] != ':' {
			return false
		}
		return validPort(port[1:])
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
		if !validPort(port) {
			return false
		}
	}
	if host == "" {
		return false
	}
	for _, c := range host {
		if !isHostChar(c) {
			return false
		}
	}
	return true
}

func isHostChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.'
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n, err := strconv.Atoi(p)
	return err == nil && n > 0 && n < 65536 && p[0] != '+'
}
