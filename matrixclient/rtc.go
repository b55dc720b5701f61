package matrixclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

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

// The Client offers MatrixRTC sessions delayed events (MSC4140).
var _ matrixrtc.DelayedEvents = (*Client)(nil)

// DelayedEventsSupported reports whether the homeserver lists delayed
// events (org.matrix.msc4140) among the unstable features of /versions.
func (c *Client) DelayedEventsSupported(ctx context.Context) (bool, error) {
	mx, err := c.mautrixClient()
	if err != nil {
		return false, err
	}
	v, err := mx.Versions(ctx)
	if err != nil {
		return false, fmt.Errorf("matrixclient: /versions: %w", err)
	}
	return v.UnstableFeatures[matrixrtc.FeatureDelayedEvents], nil
}

// SendDelayedState schedules a state event that the homeserver sends after
// delay unless restarted, and returns its delay ID. A delay above the
// homeserver's maximum fails with a *matrixrtc.MaxDelayError.
func (c *Client) SendDelayedState(ctx context.Context, roomID, evType, stateKey string, content any, delay time.Duration) (string, error) {
	mx, err := c.mautrixClient()
	if err != nil {
		return "", err
	}
	if delay <= 0 {
		return "", fmt.Errorf("%w: delay %v", matrixrtc.ErrInvalidArgument, delay)
	}
	resp, err := mx.SendStateEvent(ctx, id.RoomID(roomID), event.Type{Type: evType, Class: event.StateEventType}, stateKey, content,
		mautrix.ReqSendEvent{UnstableDelay: delay})
	if err != nil {
		return "", delayedError(fmt.Sprintf("scheduling %s state", evType), err)
	}
	if resp.UnstableDelayID == "" {
		return "", fmt.Errorf("%w: no delay_id in the answer", matrixrtc.ErrUnreachable)
	}
	return string(resp.UnstableDelayID), nil
}

// UpdateDelayedEvent restarts, sends or cancels a scheduled event:
// POST …/delayed_events/{id}/{action}, else (older homeservers) the same
// path without the action and {"action": …} in the body. An unknown delay
// ID wraps matrixrtc.ErrDelayNotFound.
func (c *Client) UpdateDelayedEvent(ctx context.Context, delayID string, action matrixrtc.DelayAction) error {
	mx, err := c.mautrixClient()
	if err != nil {
		return err
	}
	switch action {
	case matrixrtc.DelayRestart, matrixrtc.DelaySend, matrixrtc.DelayCancel:
	default:
		return fmt.Errorf("%w: delayed event action %q", matrixrtc.ErrInvalidArgument, action)
	}
	if delayID == "" {
		return fmt.Errorf("%w: empty delay ID", matrixrtc.ErrInvalidArgument)
	}
	_, err = mx.MakeRequest(ctx, http.MethodPost,
		mx.BuildClientURL("unstable", "org.matrix.msc4140", "delayed_events", delayID, string(action)), struct{}{}, nil)
	if isUnrecognized(err) {
		_, err = mx.MakeRequest(ctx, http.MethodPost,
			mx.BuildClientURL("unstable", "org.matrix.msc4140", "delayed_events", delayID), map[string]string{"action": string(action)}, nil)
	}
	if err != nil {
		return delayedError(string(action)+" of delayed event", err)
	}
	return nil
}

// isUnrecognized is true when the homeserver does not know the endpoint
// (404/405 M_UNRECOGNIZED, or a bare 405).
func isUnrecognized(err error) bool {
	var he mautrix.HTTPError
	if !errors.As(err, &he) || he.Response == nil {
		return false
	}
	code := he.Response.StatusCode
	if he.RespError != nil && he.RespError.ErrCode == mautrix.MUnrecognized.ErrCode {
		return code == http.StatusNotFound || code == http.StatusMethodNotAllowed || code == http.StatusBadRequest
	}
	return code == http.StatusMethodNotAllowed
}

// delayedError maps MSC4140 refusals onto matrixrtc's sentinels.
func delayedError(what string, err error) error {
	var he mautrix.HTTPError
	if errors.As(err, &he) && he.RespError != nil {
		re := he.RespError
		code := re.ErrCode
		if c, ok := re.ExtraData["org.matrix.msc4140.errcode"].(string); ok {
			code = c
		}
		switch code {
		case "M_MAX_DELAY_EXCEEDED":
			limit := re.ExtraData["org.matrix.msc4140.max_delay"]
			if limit == nil {
				limit = re.ExtraData["max_delay"]
			}
			ms, _ := limit.(float64)
			return fmt.Errorf("matrixclient: %s: %w", what, &matrixrtc.MaxDelayError{Max: time.Duration(ms) * time.Millisecond})
		case mautrix.MNotFound.ErrCode:
			return fmt.Errorf("matrixclient: %s: %w: %w", what, matrixrtc.ErrDelayNotFound, err)
		case mautrix.MForbidden.ErrCode:
			return fmt.Errorf("matrixclient: %s: %w: %w", what, matrixrtc.ErrForbidden, err)
		}
	}
	return fmt.Errorf("matrixclient: %s: %w", what, err)
}
