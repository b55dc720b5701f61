package matrixclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/mxcall/mxcall/matrixrtc"
)

// The Client is what MatrixRTC sessions reach Matrix through.
var _ matrixrtc.Matrix = (*Client)(nil)

// SendState sends a state event (for MatrixRTC call memberships) and
// returns its event ID. A refusal by the homeserver (M_FORBIDDEN, e.g.
// power levels) wraps matrixrtc.ErrForbidden.
func (c *Client) SendState(ctx context.Context, roomID, evType, stateKey string, content any) (string, error) {
	mx, err := c.mautrixClient()
	if err != nil {
		return "", err
	}
	resp, err := mx.SendStateEvent(ctx, id.RoomID(roomID), event.Type{Type: evType, Class: event.StateEventType}, stateKey, content)
	if errors.Is(err, mautrix.MForbidden) {
		return "", fmt.Errorf("%w: %w", matrixrtc.ErrForbidden, err)
	}
	if err != nil {
		return "", fmt.Errorf("matrixclient: sending %s state: %w", evType, err)
	}
	return resp.EventID.String(), nil
}

// SendEvent sends a MatrixRTC timeline event (ring notification, decline)
// and returns its event ID. It goes out encrypted in encrypted rooms (and
// never in plaintext there), with the same retries as call events. A
// refusal by the homeserver wraps matrixrtc.ErrForbidden.
func (c *Client) SendEvent(ctx context.Context, roomID, evType string, content any) (string, error) {
	eventID, err := c.sendEvent(ctx, roomID, evType, content)
	if errors.Is(err, mautrix.MForbidden) {
		return "", fmt.Errorf("%w: %w", matrixrtc.ErrForbidden, err)
	}
	return eventID, err
}

// RoomState returns the room's current state events of evType, or all of
// them when evType is "". Contents are handed over raw.
func (c *Client) RoomState(ctx context.Context, roomID, evType string) ([]matrixrtc.StateEvent, error) {
	mx, err := c.mautrixClient()
	if err != nil {
		return nil, err
	}
	var evs []struct {
		Type     string          `json:"type"`
		StateKey *string         `json:"state_key"`
		Sender   string          `json:"sender"`
		TS       int64           `json:"origin_server_ts"`
		Content  json.RawMessage `json:"content"`
	}
	if _, err := mx.MakeRequest(ctx, "GET", mx.BuildClientURL("v3", "rooms", roomID, "state"), nil, &evs); err != nil {
		return nil, fmt.Errorf("matrixclient: room state of %s: %w", roomID, err)
	}
	out := make([]matrixrtc.StateEvent, 0, len(evs))
	for _, e := range evs {
		if e.StateKey == nil || (evType != "" && e.Type != evType) {
			continue
		}
		out = append(out, matrixrtc.StateEvent{Type: e.Type, StateKey: *e.StateKey, Sender: e.Sender, OriginServerTS: e.TS, Content: e.Content})
	}
	return out, nil
}

// OpenIDToken requests an OpenID token for the logged-in user (to show a
// MatrixRTC token service who we are).
func (c *Client) OpenIDToken(ctx context.Context) (matrixrtc.OpenIDToken, error) {
	mx, err := c.mautrixClient()
	if err != nil {
		return matrixrtc.OpenIDToken{}, err
	}
	r, err := mx.RequestOpenIDToken(ctx)
	if err != nil {
		return matrixrtc.OpenIDToken{}, fmt.Errorf("matrixclient: OpenID token: %w", err)
	}
	return matrixrtc.OpenIDToken{AccessToken: r.AccessToken, TokenType: r.TokenType,
		MatrixServerName: r.MatrixServerName, ExpiresIn: json.Number(strconv.Itoa(r.ExpiresIn))}, nil
}

// DeviceID returns our device ID ("" when logged out).
func (c *Client) DeviceID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess.DeviceID
}

// HomeserverURL returns the homeserver's base URL without a trailing slash
// ("" when logged out).
func (c *Client) HomeserverURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.TrimRight(c.sess.HomeserverURL, "/")
}
