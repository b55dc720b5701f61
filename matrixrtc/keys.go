package matrixrtc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"
)

// Media key exchange (RTC-NOTES §4): per-participant keys sent as
// Olm-encrypted to-device events.
const (
	// TypeEncryptionKeys is the to-device type that carries a media key.
	TypeEncryptionKeys = "io.element.call.encryption_keys"
	// KeyUseDelay is how long after sending a new key we start using it
	// (Element Call's useKeyDelay), so receivers have it first.
	KeyUseDelay = time.Second
	// KeyReuseWindow: a member who joins while our key is younger than
	// this gets the current key; later joins rotate it.
	KeyReuseWindow = 10 * time.Second
	// keySize is the length of the keys we make (js-sdk sends 16 bytes).
	keySize = 16
	// sendTimeout bounds one to-device send.
	sendTimeout = 15 * time.Second
)

// ToDevice sends Olm-encrypted to-device events: messages maps user ID →
// device ID → content. matrixclient implements it.
type ToDevice interface {
	SendToDevice(ctx context.Context, evType string, messages map[string]map[string]any) error
}

// ToDeviceEvent is one to-device event that arrived Olm-encrypted and was
// decrypted. SenderDevice is the device the Olm session authenticated (not
// a claim in the content).
type ToDeviceEvent struct {
	Sender, SenderDevice, Type string
	Content                    json.RawMessage
}

// KeyConfig configures a KeyManager.
type KeyConfig struct {
	// Send delivers our keys (required).
	Send ToDevice
	// RoomID is the call's room; UserID and DeviceID are ours (required).
	RoomID, UserID, DeviceID string
	// OnLocalKey is called (on the manager's goroutine) when our media
	// must be encrypted with key from now on: the first key at once, a
	// rotated one KeyUseDelay after it was sent.
	OnLocalKey func(index uint8, key []byte)
	// OnRemoteKey is called (on the manager's goroutine) with each key a
	// member sent us, for the frames of identity ("@user:server:DEVICE").
	// Keys may come before the member's membership does: keep them.
	OnRemoteKey func(identity string, index uint8, key []byte)
	// UseDelay and ReuseWindow default to KeyUseDelay and KeyReuseWindow.
	UseDelay, ReuseWindow time.Duration
	// Rand is the randomness for keys (default crypto/rand).
	Rand io.Reader
	// Log receives the manager's logs (default slog.Default()).
	Log *slog.Logger
}

// KeyManager makes, rotates and sends our media key for one call and takes
// in the keys others send us. One goroutine owns its state; SetMembers and
// Handle hand it work without waiting.
type KeyManager struct {
	cfg  KeyConfig
	in   chan func()
	quit chan struct{}
	done chan struct{}
	once sync.Once

	// Owned by the run goroutine.
	started bool
	index   uint8
	key     []byte
	made    time.Time
	members map[memberKey]time.Time // others in the call → their created_ts
	pending *time.Timer             // switches to the newest key
	useC    <-chan time.Time
	useKey  func()
}

type memberKey struct{ user, device string }

// NewKeyManager checks cfg and starts the manager's goroutine. Close it.
func NewKeyManager(cfg KeyConfig) (*KeyManager, error) {
	if cfg.Send == nil || cfg.RoomID == "" || cfg.UserID == "" || cfg.DeviceID == "" {
		return nil, fmt.Errorf("%w: a key manager needs a sender, a room and our user and device", ErrInvalidArgument)
	}
	if cfg.UseDelay <= 0 {
		cfg.UseDelay = KeyUseDelay
	}
	if cfg.ReuseWindow <= 0 {
		cfg.ReuseWindow = KeyReuseWindow
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	k := &KeyManager{cfg: cfg, in: make(chan func(), 64), quit: make(chan struct{}), done: make(chan struct{}), members: map[memberKey]time.Time{}}
	go k.run()
	return k, nil
}

// Close stops the manager; it is idempotent.
func (k *KeyManager) Close() error {
	k.once.Do(func() { close(k.quit) })
	<-k.done
	return nil
}

func (k *KeyManager) run() {
	defer close(k.done)
	for {
		select {
		case fn := <-k.in:
			fn()
		case <-k.useC:
			k.useC = nil
			if k.useKey != nil {
				k.useKey()
				k.useKey = nil
			}
		case <-k.quit:
			if k.pending != nil {
				k.pending.Stop()
			}
			return
		}
	}
}

func (k *KeyManager) post(fn func()) {
	select {
	case k.in <- fn:
	case <-k.quit:
	}
}

// SetMembers hands over the call's live memberships (ours may be among
// them; it is skipped). The first call makes our first key and sends it to
// everyone; later calls send keys as members join and leave.
func (k *KeyManager) SetMembers(ms []Membership) {
	now := make(map[memberKey]time.Time, len(ms))
	for _, m := range ms {
		if m.Sender == k.cfg.UserID && m.DeviceID == k.cfg.DeviceID {
			continue
		}
		now[memberKey{m.Sender, m.DeviceID}] = m.Created
	}
	k.post(func() { k.setMembers(now) })
}

func (k *KeyManager) setMembers(now map[memberKey]time.Time) {
	var joined []memberKey
	left := false
	for m, created := range now {
		if old, ok := k.members[m]; !ok || !old.Equal(created) {
			joined = append(joined, m) // new, or rejoined (created_ts changed)
		}
	}
	for m := range k.members {
		if _, ok := now[m]; !ok {
			left = true
		}
	}
	k.members = now
	switch {
	case !k.started:
		k.started = true
		if !k.newKey(0) {
			return
		}
		k.use(k.index, k.key) // nobody has media from us yet: use it at once
		k.send(k.all())
	case left || (len(joined) > 0 && time.Since(k.made) >= k.cfg.ReuseWindow):
		if !k.newKey(k.index + 1) { // wraps at 256, as Element Call's index does
			return
		}
		k.send(k.all())
		idx, key := k.index, k.key
		k.useKey = func() { k.use(idx, key) }
		if k.pending != nil {
			k.pending.Stop()
		}
		k.pending = time.NewTimer(k.cfg.UseDelay)
		k.useC = k.pending.C
	case len(joined) > 0:
		k.send(joined)
	}
}

func (k *KeyManager) newKey(index uint8) bool {
	key := make([]byte, keySize)
	if _, err := io.ReadFull(k.cfg.Rand, key); err != nil {
		k.cfg.Log.Error("matrixrtc: no randomness for a media key", "err", err)
		return false
	}
	k.index, k.key, k.made = index, key, time.Now()
	return true
}

func (k *KeyManager) use(index uint8, key []byte) {
	if on := k.cfg.OnLocalKey; on != nil {
		on(index, key)
	}
}

func (k *KeyManager) all() []memberKey {
	out := make([]memberKey, 0, len(k.members))
	for m := range k.members {
		out = append(out, m)
	}
	return out
}

// KeyContent is the content of an encryption_keys to-device event: our
// (userID, deviceID) media key at index for roomID's call.
func KeyContent(roomID, userID, deviceID string, index uint8, key []byte) map[string]any {
	return map[string]any{
		"keys":    map[string]any{"index": int(index), "key": base64.StdEncoding.EncodeToString(key)},
		"room_id": roomID,
		"member":  map[string]any{"claimed_device_id": deviceID, "id": userID + ":" + deviceID},
		"session": map[string]any{"application": ApplicationCall, "call_id": "", "scope": ScopeRoom},
		"sent_ts": time.Now().UnixMilli(),
	}
}

// send delivers our current key to the given members' devices.
func (k *KeyManager) send(to []memberKey) {
	if len(to) == 0 {
		return
	}
	content := KeyContent(k.cfg.RoomID, k.cfg.UserID, k.cfg.DeviceID, k.index, k.key)
	msgs := map[string]map[string]any{}
	for _, m := range to {
		if msgs[m.user] == nil {
			msgs[m.user] = map[string]any{}
		}
		msgs[m.user][m.device] = content
	}
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	if err := k.cfg.Send.SendToDevice(ctx, TypeEncryptionKeys, msgs); err != nil {
		k.cfg.Log.Warn("matrixrtc: sending our media key failed", "room", k.cfg.RoomID, "index", k.index, "devices", len(to), "err", err)
		return
	}
	k.cfg.Log.Debug("matrixrtc: media key sent", "room", k.cfg.RoomID, "index", k.index, "devices", len(to))
}

// Handle takes in a decrypted to-device event; keys for other rooms,
// malformed ones and ones whose claimed device is not the Olm-verified
// sender device are dropped.
func (k *KeyManager) Handle(ev ToDeviceEvent) {
	if ev.Type != TypeEncryptionKeys {
		return
	}
	identity, index, key, err := parseKeyEvent(ev, k.cfg.RoomID)
	if err != nil {
		k.cfg.Log.Info("matrixrtc: ignoring a media key", "sender", ev.Sender, "device", ev.SenderDevice, "err", err)
		return
	}
	if ev.Sender == k.cfg.UserID && ev.SenderDevice == k.cfg.DeviceID {
		return
	}
	k.post(func() {
		if on := k.cfg.OnRemoteKey; on != nil {
			on(identity, index, key)
		}
	})
}

// parseKeyEvent reads an encryption_keys event as js-sdk's receiver does:
// room_id, keys.key, a numeric keys.index and member.claimed_device_id are
// required; base64 is decoded loosely.
func parseKeyEvent(ev ToDeviceEvent, roomID string) (identity string, index uint8, key []byte, err error) {
	if len(ev.Content) > MaxContentBytes {
		return "", 0, nil, fmt.Errorf("%w: key event of %d bytes", ErrBadKey, len(ev.Content))
	}
	var c struct {
		Keys *struct {
			Index *float64 `json:"index"`
			Key   *string  `json:"key"`
		} `json:"keys"`
		RoomID string `json:"room_id"`
		Member *struct {
			ClaimedDeviceID string `json:"claimed_device_id"`
		} `json:"member"`
	}
	if err := json.Unmarshal(ev.Content, &c); err != nil {
		return "", 0, nil, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	switch {
	case c.Keys == nil || c.Keys.Index == nil || c.Keys.Key == nil || c.Member == nil || c.Member.ClaimedDeviceID == "":
		return "", 0, nil, fmt.Errorf("%w: incomplete key event", ErrBadKey)
	case c.RoomID != roomID:
		return "", 0, nil, fmt.Errorf("%w: key for room %q", ErrBadKey, c.RoomID)
	case c.Member.ClaimedDeviceID != ev.SenderDevice || ev.SenderDevice == "" || ev.Sender == "":
		return "", 0, nil, fmt.Errorf("%w: claimed device %q is not the sending device %q", ErrBadKey, c.Member.ClaimedDeviceID, ev.SenderDevice)
	case *c.Keys.Index < 0 || *c.Keys.Index > math.MaxUint8 || *c.Keys.Index != math.Trunc(*c.Keys.Index):
		return "", 0, nil, fmt.Errorf("%w: key index %v", ErrBadKey, *c.Keys.Index)
	}
	key, err = decodeBase64(*c.Keys.Key)
	if err != nil || len(key) == 0 {
		return "", 0, nil, fmt.Errorf("%w: key is not base64", ErrBadKey)
	}
	return ev.Sender + ":" + ev.SenderDevice, uint8(*c.Keys.Index), key, nil
}

// decodeBase64 accepts standard or URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}
