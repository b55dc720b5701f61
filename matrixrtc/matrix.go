package matrixrtc

import (
	"context"
	"encoding/json"
	"net/http"
)

// StateEvent is one room state event as the Matrix interface hands it over.
type StateEvent struct {
	Type     string
	StateKey string
	Sender   string
	// OriginServerTS is the event's origin_server_ts in Unix milliseconds.
	OriginServerTS int64
	Content        json.RawMessage
}

// OpenIDToken is the answer of the homeserver's
// POST /_matrix/client/v3/user/{userId}/openid/request_token.
type OpenIDToken struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	MatrixServerName string `json:"matrix_server_name"`
	// ExpiresIn is passed through as received (Dendrite sends an absolute
	// time here).
	ExpiresIn json.Number `json:"expires_in"`
}

// Matrix is what this package needs of a Matrix client. matrixclient
// implements it with mautrix; tests implement it in memory.
type Matrix interface {
	// SendState sends a state event and returns its event ID. A refusal
	// by the homeserver (M_FORBIDDEN, e.g. power levels) must wrap
	// ErrForbidden.
	SendState(ctx context.Context, roomID, evType, stateKey string, content any) (eventID string, err error)
	// SendEvent sends a timeline (message) event, encrypted when the room
	// is, and returns its event ID.
	SendEvent(ctx context.Context, roomID, evType string, content any) (eventID string, err error)
	// RoomState returns the room's current state events of evType, or of
	// every type when evType is "".
	RoomState(ctx context.Context, roomID, evType string) ([]StateEvent, error)
	// OpenIDToken requests an OpenID token for the logged-in user.
	OpenIDToken(ctx context.Context) (OpenIDToken, error)
	// UserID is the logged-in user's ID.
	UserID() string
	// DeviceID is the logged-in device's ID.
	DeviceID() string
	// HomeserverURL is the client-server API base URL, without a trailing
	// slash.
	HomeserverURL() string
}

// HTTPDoer sends HTTP requests; *http.Client satisfies it.
type HTTPDoer interface {
	Do(req *http.Request) (*http.Response, error)
}
