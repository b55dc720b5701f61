package rtcauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Verifier checks an OpenID token and returns the Matrix user ID it was
// issued to. Errors wrap ErrUnauthorized.
type Verifier interface {
	UserID(ctx context.Context, tok OpenIDToken) (string, error)
}

// FederationVerifier checks OpenID tokens with the issuing homeserver's
// GET /_matrix/federation/v1/openid/userinfo, for the homeservers on its
// allow-list. It is safe for concurrent use.
type FederationVerifier struct {
	servers  map[string]string // server name → base URL; "" = discover
	allowAny bool
	client   *http.Client
}

// userInfoPath is the federation endpoint that exchanges an OpenID token for
// the user ID it was issued to.
const userInfoPath = "/_matrix/federation/v1/openid/userinfo"

// maxResponseBytes bounds what the verifier reads from a homeserver.
const maxResponseBytes = 64 << 10

// NewFederationVerifier builds a verifier from allow-list entries:
//
//	example.org                          discover example.org's federation API
//	example.org=https://matrix.example.org:8448   use this base URL
//	localhost=http://127.0.0.1:8008      (plain HTTP for a test homeserver)
//	*                                    accept every homeserver (discovered)
//
// Discovery follows the Matrix server-name rules in part: an explicit port
// or IP address is used as it is, else .well-known/matrix/server is read,
// else port 8448; always over HTTPS. SRV records are not looked up: give
// such homeservers an explicit URL. client may be nil for a default one
// with a 10 s timeout.
func NewFederationVerifier(entries []string, client *http.Client) (*FederationVerifier, error) {
	v := &FederationVerifier{servers: map[string]string{}, client: client}
	if v.client == nil {
		v.client = &http.Client{Timeout: 10 * time.Second}
	}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if e == "*" {
			v.allowAny = true
			continue
		}
		name, base, _ := strings.Cut(e, "=")
		if !ValidServerName(name) {
			return nil, fmt.Errorf("%w: %q is not a server name", ErrConfig, name)
		}
		if base != "" {
			u, err := url.Parse(base)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
				(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
				return nil, fmt.Errorf("%w: homeserver URL %q must be http(s)://host[:port]", ErrConfig, base)
			}
			base = u.Scheme + "://" + u.Host
		}
		v.servers[name] = base
	}
	if len(v.servers) == 0 && !v.allowAny {
		return nil, fmt.Errorf("%w: empty homeserver allow-list", ErrConfig)
	}
	return v, nil
}

// UserID asks the token's homeserver who the token belongs to. The answer
// must be a user of that same homeserver.
func (v *FederationVerifier) UserID(ctx context.Context, tok OpenIDToken) (string, error) {
	name := tok.MatrixServerName
	base, listed := v.servers[name]
	if !listed && !v.allowAny {
		return "", fmt.Errorf("%w: %w: %q", ErrUnauthorized, ErrServerNotAllowed, name)
	}
	if base == "" {
		base = v.discover(ctx, name)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		base+userInfoPath+"?access_token="+url.QueryEscape(tok.AccessToken), nil)
	if err != nil { // the error would quote the URL, token included
		return "", fmt.Errorf("%w: cannot build a request for homeserver %q", ErrUnauthorized, name)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("%w: homeserver %q: %w", ErrUnauthorized, name, redactErr(err))
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return "", fmt.Errorf("%w: homeserver %q: %w", ErrUnauthorized, name, redactErr(err))
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%w: homeserver %q answered %d", ErrUnauthorized, name, resp.StatusCode)
	}
	var info struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(body, &info); err != nil || info.Sub == "" {
		return "", fmt.Errorf("%w: homeserver %q sent no user", ErrUnauthorized, name)
	}
	if userServer(info.Sub) != name {
		return "", fmt.Errorf("%w: homeserver %q vouched for foreign user %q", ErrUnauthorized, name, info.Sub)
	}
	return info.Sub, nil
}

// userServer returns the server part of a user ID ("@u:server" → "server"),
// or "" when it is not a user ID.
func userServer(userID string) string {
	if !strings.HasPrefix(userID, "@") {
		return ""
	}
	_, server, ok := strings.Cut(userID, ":")
	if !ok {
		return ""
	}
	return server
}

// discover finds the base URL of a homeserver's federation API.
func (v *FederationVerifier) discover(ctx context.Context, name string) string {
	if hasPort(name) || isIPLiteral(name) {
		if hasPort(name) {
			return "https://" + name
		}
		return "https://" + net.JoinHostPort(strings.Trim(name, "[]"), "8448")
	}
	if delegated := v.wellKnown(ctx, name); delegated != "" {
		if hasPort(delegated) {
			return "https://" + delegated
		}
		return "https://" + net.JoinHostPort(strings.Trim(delegated, "[]"), "8448")
	}
	return "https://" + net.JoinHostPort(name, "8448")
}

// wellKnown reads https://name/.well-known/matrix/server and returns its
// m.server, or "" when there is none.
func (v *FederationVerifier) wellKnown(ctx context.Context, name string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+name+"/.well-known/matrix/server", nil)
	if err != nil {
		return ""
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return ""
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	var wk struct {
		Server string `json:"m.server"`
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil || json.Unmarshal(body, &wk) != nil || !ValidServerName(wk.Server) {
		return ""
	}
	return wk.Server
}

func hasPort(name string) bool {
	if strings.HasPrefix(name, "[") {
		return strings.Contains(name, "]:")
	}
	return strings.Contains(name, ":")
}

func isIPLiteral(name string) bool {
	return net.ParseIP(strings.Trim(name, "[]")) != nil
}

// redactErr drops the request URL (which carries the access token) from
// errors of the HTTP client.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
