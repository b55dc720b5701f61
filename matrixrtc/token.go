package matrixrtc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxTokenBody bounds the token service's answers we read.
const maxTokenBody = 64 << 10

// Credentials are what the token service hands out: the LiveKit WebSocket
// URL and an access token for it.
type Credentials struct {
	URL string `json:"url"`
	JWT string `json:"jwt"`
}

// sfuGetRequest is the body of POST {livekit_service_url}/sfu/get.
type sfuGetRequest struct {
	Room        string      `json:"room"`
	OpenIDToken OpenIDToken `json:"openid_token"`
	DeviceID    string      `json:"device_id"`
}

// SFUGet trades an OpenID token for LiveKit credentials at the token
// service serviceURL (a transport's livekit_service_url) with the legacy
// POST /sfu/get that Element Call uses by default. Errors: ErrTokenRefused
// (401), ErrTokenRequest (400), ErrTokenService (anything else that is not
// a token), ErrUnreachable (no answer), ErrInvalidArgument.
func SFUGet(ctx context.Context, client HTTPDoer, serviceURL, roomID string, tok OpenIDToken, deviceID string) (Credentials, error) {
	if !validServiceURL(serviceURL) || roomID == "" || deviceID == "" || tok.AccessToken == "" {
		return Credentials{}, fmt.Errorf("%w: service %q, room %q, device %q", ErrInvalidArgument, serviceURL, roomID, deviceID)
	}
	if client == nil {
		client = http.DefaultClient
	}
	body, err := json.Marshal(sfuGetRequest{Room: roomID, OpenIDToken: tok, DeviceID: deviceID})
	if err != nil {
		return Credentials{}, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(serviceURL, "/")+"/sfu/get", bytes.NewReader(body))
	if err != nil {
		return Credentials{}, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return Credentials{}, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer func() { _ = resp.Body.Close() }()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody+1))
	if err != nil {
		return Credentials{}, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	if len(answer) > maxTokenBody {
		return Credentials{}, fmt.Errorf("%w: answer over %d bytes", ErrTokenService, maxTokenBody)
	}
	if resp.StatusCode != http.StatusOK {
		return Credentials{}, statusError(resp.StatusCode, answer)
	}
	var c Credentials
	if err := json.Unmarshal(answer, &c); err != nil {
		return Credentials{}, fmt.Errorf("%w: %w", ErrTokenService, err)
	}
	if c.JWT == "" || !validSFUURL(c.URL) {
		return Credentials{}, fmt.Errorf("%w: answer without a usable url and jwt", ErrTokenService)
	}
	return c, nil
}

// statusError maps a token service error status (RTC-NOTES §3) to a
// sentinel error; the errcode is kept in the message.
func statusError(status int, body []byte) error {
	var e struct {
		Errcode string `json:"errcode"`
	}
	_ = json.Unmarshal(body, &e)
	code := e.Errcode
	if len(code) > 64 {
		code = code[:64]
	}
	switch status {
	case http.StatusUnauthorized:
		return fmt.Errorf("%w: status %d %s", ErrTokenRefused, status, code)
	case http.StatusBadRequest:
		return fmt.Errorf("%w: status %d %s", ErrTokenRequest, status, code)
	default:
		return fmt.Errorf("%w: status %d %s", ErrTokenService, status, code)
	}
}

func validSFUURL(s string) bool {
	for _, p := range []string{"wss://", "ws://", "https://", "http://"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
