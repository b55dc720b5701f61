package matrixclient

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// ServerName returns the server part of a Matrix user ID.
func ServerName(userID string) (string, error) {
	_, server, err := id.UserID(userID).ParseAndValidateRelaxed()
	if err != nil || server == "" || !strings.HasPrefix(userID, "@") {
		return "", fmt.Errorf("%w: %q", ErrInvalidUserID, userID)
	}
	return server, nil
}

// Discover finds the client API base URL for a server name through
// https://<server>/.well-known/matrix/client; with no .well-known it falls
// back to https://<server>. The result is checked with /versions.
func (c *Client) Discover(ctx context.Context, serverName string) (string, error) {
	hc := c.cfg.httpClient
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	base := c.cfg.discoverScheme + "://" + serverName
	wk, err := getJSON[struct {
		Homeserver struct {
			BaseURL string `json:"base_url"`
		} `json:"m.homeserver"`
	}](ctx, hc, base+"/.well-known/matrix/client")
	var hs string
	switch {
	case errors.Is(err, errHTTPNotFound):
		hs = base
	case err != nil:
		return "", fmt.Errorf("%w: %s: %w", ErrDiscovery, serverName, err)
	case wk.Homeserver.BaseURL == "":
		return "", fmt.Errorf("%w: %s: .well-known has no m.homeserver.base_url", ErrDiscovery, serverName)
	default:
		hs = strings.TrimRight(wk.Homeserver.BaseURL, "/")
	}
	u, err := url.Parse(hs)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("%w: %s: bad base_url", ErrDiscovery, serverName)
	}
	if _, err := getJSON[struct {
		Versions []string `json:"versions"`
	}](ctx, hc, hs+"/_matrix/client/versions"); err != nil {
		return "", fmt.Errorf("%w: %s is not a Matrix homeserver: %w", ErrDiscovery, hs, err)
	}
	return hs, nil
}

var (
	errHTTPNotFound = errors.New("not found")
	errHTTPStatus   = errors.New("unexpected status")
)

func getJSON[T any](ctx context.Context, hc *http.Client, u string) (T, error) {
	var v T
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return v, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return v, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode == http.StatusNotFound {
		return v, errHTTPNotFound
	}
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("%w: HTTP %d", errHTTPStatus, resp.StatusCode)
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&v)
	return v, err
}

// Login logs in with a user ID and password. homeserverURL may be empty:
// the homeserver is then discovered from the user ID's server name. The
// session is stored in the keyring; if that fails, Login still succeeds,
// and Status().Keyring says the session is kept in memory only. Call Start
// afterwards.
func (c *Client) Login(ctx context.Context, userID, password, homeserverURL string) error {
	server, err := ServerName(userID)
	if err != nil {
		return err
	}
	c.Stop() // a running (or expired) session is replaced
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return ErrClosed
	}
	hs := strings.TrimRight(homeserverURL, "/")
	if hs == "" {
		if hs, err = c.Discover(ctx, server); err != nil {
			return err
		}
	}
	mx, err := c.newMautrix(Session{HomeserverURL: hs})
	if err != nil {
		return err
	}
	resp, err := mx.Login(ctx, &mautrix.ReqLogin{
		Type:                     mautrix.AuthTypePassword,
		Identifier:               mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: userID},
		Password:                 password,
		InitialDeviceDisplayName: c.cfg.deviceName,
		StoreCredentials:         true,
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrLogin, err)
	}
	s := Session{HomeserverURL: hs, UserID: resp.UserID.String(), DeviceID: resp.DeviceID.String(),
		AccessToken: resp.AccessToken, PickleKey: newPickleKey()}
	kerr := saveSession(c.cfg.keyring, c.cfg.service, s)
	if kerr != nil {
		c.log.Warn("session not stored", "err", kerr)
	}
	c.mu.Lock()
	c.mx, c.sess, c.keyringErr, c.expired = mx, s, kerr, false
	c.rooms, c.since = newRoomModel(), ""
	c.mu.Unlock()
	c.log.Info("logged in", "session", s)
	c.notify(ChangeSession)
	return nil
}

// Restore loads the session stored in the keyring. It reports whether one
// was found; it does not contact the homeserver (Start's sync notices an
// expired token). With no usable keyring it returns an error wrapping
// ErrNoKeyring, and Status().Keyring says so too.
func (c *Client) Restore(ctx context.Context) (bool, error) {
	began := time.Now()
	s, found, err := loadSession(c.cfg.keyring, c.cfg.service)
	keyringRead := time.Since(began)
	c.mu.Lock()
	c.keyringErr = err
	c.mu.Unlock()
	if err != nil || !found {
		c.notify(ChangeSession)
		return false, err
	}
	if s.PickleKey == "" {
		s.PickleKey = newPickleKey()
		if err := saveSession(c.cfg.keyring, c.cfg.service, s); err != nil {
			c.log.Warn("session not updated", "err", err)
		}
	}
	mx, err := c.newMautrix(s)
	if err != nil {
		return false, err
	}
	// The room list as the last run left it, shown before any sync.
	rooms, since := newRoomModel(), ""
	if sc := c.loadCache(s); sc != nil {
		rooms, since = roomModelFromCache(sc), sc.NextBatch
	}
	c.mu.Lock()
	c.mx, c.sess, c.expired = mx, s, false
	c.rooms, c.since = rooms, since
	c.mu.Unlock()
	c.log.Info("session restored", "session", s, "cached_rooms", len(rooms.rooms),
		"keyring_read", keyringRead.Round(time.Millisecond), "took", time.Since(began).Round(time.Millisecond))
	c.notify(ChangeSession)
	if since != "" {
		c.notify(ChangeRooms)
	}
	return true, nil
}

// Logout stops syncing, invalidates the access token on the homeserver and
// deletes the stored session. The local session is dropped even when the
// homeserver cannot be reached; the error then says so.
func (c *Client) Logout(ctx context.Context) error {
	c.Stop()
	c.mu.Lock()
	mx, sess := c.mx, c.sess
	c.mu.Unlock()
	if mx == nil {
		return ErrNotLoggedIn
	}
	c.removeCryptoStore(sess)
	c.removeCache(sess)
	c.forgetCrossSigning(sess)
	var errs []error
	if _, err := mx.Logout(ctx); err != nil && !errors.Is(err, mautrix.MUnknownToken) {
		errs = append(errs, fmt.Errorf("matrixclient: logout on homeserver: %w", err))
	}
	if err := deleteSession(c.cfg.keyring, c.cfg.service); err != nil {
		errs = append(errs, err)
	}
	c.clearSession(false)
	c.log.Info("logged out")
	return errors.Join(errs...)
}

// clearSession forgets the session locally (after logout or expiry). It
// drops the mautrix client but does not touch it: the sync, TURN and
// sharing loops may still be using it until they see their context end
// (a dead token only makes their last requests fail).
func (c *Client) clearSession(expired bool) {
	c.mu.Lock()
	c.mx, c.sess, c.expired = nil, Session{}, expired
	c.rooms, c.since = newRoomModel(), ""
	c.ice, c.turn = nil, TURNStatus{}
	c.sharedAhead = nil
	c.mu.Unlock()
	c.notify(ChangeSession)
	c.notify(ChangeRooms)
}

// sessionExpired handles M_UNKNOWN_TOKEN from the sync loop: the token is
// dead, so the stored copy is deleted and the user must log in again.
func (c *Client) sessionExpired() {
	c.log.Warn("access token rejected by homeserver; session expired")
	if err := deleteSession(c.cfg.keyring, c.cfg.service); err != nil {
		c.log.Warn("deleting expired session", "err", err)
	}
	c.mu.Lock()
	if c.run != nil {
		c.run.cancel() // the loops exit on their own (we run in one); Stop waits for them
	}
	c.mu.Unlock()
	c.mu.Lock()
	sess := c.sess
	c.mu.Unlock()
	c.removeCryptoStore(sess)
	c.removeCache(sess)
	c.forgetCrossSigning(sess)
	c.clearSession(true)
	c.setConn(ConnStopped, ErrSessionExpired)
}

// removeCryptoStore deletes the crypto store of a session that ended (its
// device no longer exists).
func (c *Client) removeCryptoStore(s Session) {
	if s.DeviceID == "" || !E2EEAvailable {
		return
	}
	path, err := c.cryptoDBPath(s)
	if err != nil {
		return
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			c.log.Warn("removing crypto store", "err", err)
		}
	}
}

func newPickleKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func randFloat() float64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return float64(binary.LittleEndian.Uint64(b[:])>>11) / (1 << 53)
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomID returns n random alphanumerics.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b)
}
