package matrixclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/zalando/go-keyring"
)

// Session is what a login yields and what is stored in the keyring.
type Session struct {
	HomeserverURL string `json:"homeserver_url"`
	UserID        string `json:"user_id"`
	DeviceID      string `json:"device_id"`
	AccessToken   string `json:"access_token"`
	// PickleKey encrypts the end-to-end encryption store (base64).
	PickleKey string `json:"pickle_key,omitempty"`
}

// String describes the session without its access token.
func (s Session) String() string {
	return fmt.Sprintf("session{%s device %s on %s}", s.UserID, s.DeviceID, s.HomeserverURL)
}

// LogValue keeps the access token out of slog output.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("homeserver", s.HomeserverURL),
		slog.String("user_id", s.UserID),
		slog.String("device_id", s.DeviceID),
	)
}

func (s Session) valid() bool {
	return s.HomeserverURL != "" && s.UserID != "" && s.AccessToken != ""
}

// Keyring stores secrets. SystemKeyring is the OS keyring (Secret Service
// on Linux, Keychain on macOS, Credential Manager on Windows); tests and
// keyring-less setups use NewMemoryKeyring.
type Keyring interface {
	Get(service, user string) (string, error)
	Set(service, user, secret string) error
	Delete(service, user string) error
}

type systemKeyring struct{}

// Get reads a secret from the OS keyring.
func (systemKeyring) Get(service, user string) (string, error) { return keyring.Get(service, user) }

// Set stores a secret in the OS keyring.
func (systemKeyring) Set(service, user, secret string) error {
	return keyring.Set(service, user, secret)
}

// Delete removes a secret from the OS keyring.
func (systemKeyring) Delete(service, user string) error { return keyring.Delete(service, user) }

// SystemKeyring returns the OS keyring through github.com/zalando/go-keyring.
func SystemKeyring() Keyring { return systemKeyring{} }

// MemoryKeyring is an in-process Keyring for tests and for running without
// an OS keyring. It is safe for concurrent use.
type MemoryKeyring struct {
	mu sync.Mutex
	m  map[string]string
	// Fail, when set, is returned by every call (to simulate a missing keyring).
	Fail error
}

// NewMemoryKeyring returns an empty MemoryKeyring.
func NewMemoryKeyring() *MemoryKeyring { return &MemoryKeyring{m: map[string]string{}} }

// Get returns the secret or ErrKeyNotFound.
func (k *MemoryKeyring) Get(service, user string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.Fail != nil {
		return "", k.Fail
	}
	s, ok := k.m[service+"\x00"+user]
	if !ok {
		return "", ErrKeyNotFound
	}
	return s, nil
}

// Set stores the secret.
func (k *MemoryKeyring) Set(service, user, secret string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.Fail != nil {
		return k.Fail
	}
	k.m[service+"\x00"+user] = secret
	return nil
}

// Delete removes the secret or returns ErrKeyNotFound.
func (k *MemoryKeyring) Delete(service, user string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.Fail != nil {
		return k.Fail
	}
	key := service + "\x00" + user
	if _, ok := k.m[key]; !ok {
		return ErrKeyNotFound
	}
	delete(k.m, key)
	return nil
}

// sessionAccount is the keyring account name under the configured service.
const sessionAccount = "session"

// loadSession reads the session from the keyring. found is false (and err
// nil) when the keyring works but holds no session.
func loadSession(kr Keyring, service string) (s Session, found bool, err error) {
	raw, err := kr.Get(service, sessionAccount)
	if errors.Is(err, keyring.ErrNotFound) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, fmt.Errorf("%w: %w", ErrNoKeyring, err)
	}
	if err := json.Unmarshal([]byte(raw), &s); err != nil || !s.valid() {
		// A damaged entry is as good as none; do not echo its content.
		return Session{}, false, nil
	}
	return s, true, nil
}

func saveSession(kr Keyring, service string, s Session) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := kr.Set(service, sessionAccount, string(raw)); err != nil {
		return fmt.Errorf("%w: %w", ErrNoKeyring, err)
	}
	return nil
}

func deleteSession(kr Keyring, service string) error {
	err := kr.Delete(service, sessionAccount)
	if err == nil || errors.Is(err, keyring.ErrNotFound) {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrNoKeyring, err)
}
