//go:build goolm

package matrixclient

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/cryptohelper"
	"maunium.net/go/mautrix/crypto/verificationhelper"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	_ "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"

	"github.com/mxcall/mxcall/matrixrtc"
)

// E2EEAvailable reports whether this build has end-to-end encryption
// (built with the goolm tag: mautrix crypto in pure Go, SQLite store).
const E2EEAvailable = true

type mautrixCrypto struct {
	helper *cryptohelper.CryptoHelper
	raw    *sql.DB
	mx     *mautrix.Client
	log    *slog.Logger
	vh     *verificationhelper.VerificationHelper
	vstore verificationhelper.VerificationStore
	vsync  *mautrix.DefaultSyncer // the helper's handlers
	// vmu serialises everything that drives the helper: the events handed
	// to it and our calls (accept, start, confirm, cancel). See
	// verifyLocked.
	vmu sync.Mutex
	// held is the other side's MAC per transaction, kept (under vmu)
	// until we confirm; see holdMAC. theyConfirmed reports one.
	held          map[id.VerificationTransactionID]*event.Event
	theyConfirmed func(txnID string)
	vlimit        requestLimiter            // incoming requests
	vq            verifyQueue[*event.Event] // the sync's verification events, for the worker that feeds the helper
	wg            sync.WaitGroup            // that worker and the goroutines started by verification callbacks
}

// initCrypto opens the session's crypto store, loads or creates the Olm
// account, uploads device and one-time keys, and hooks decryption into
// the syncer. persistent is false when the session lives only in memory
// (no keyring): the store is then in memory too.
func (c *Client) initCrypto(ctx context.Context, mx *mautrix.Client, s Session, persistent bool) (cryptoBackend, error) {
	pk, err := base64.StdEncoding.DecodeString(s.PickleKey)
	if err != nil || len(pk) < 16 {
		return nil, fmt.Errorf("%w: no pickle key in session", ErrNoE2EE)
	}
	dsn := "file:mxcall-" + randomID(12) + "?mode=memory&cache=shared&_txlock=immediate&_pragma=foreign_keys(1)"
	if persistent {
		path, err := c.cryptoDBPath(s)
		if err != nil {
			return nil, fmt.Errorf("%w: crypto store: %w", ErrNoE2EE, err)
		}
		dsn = "file:" + path + "?_txlock=immediate&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)"
	}
	raw, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoE2EE, err)
	}
	db, err := dbutil.NewWithDB(raw, "sqlite3")
	if err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("%w: %w", ErrNoE2EE, err)
	}
	mx.StateStore = nil // the helper manages one in the same database
	helper, err := cryptohelper.NewCryptoHelper(mx, pk, db)
	if err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("%w: %w", ErrNoE2EE, err)
	}
	helper.DecryptErrorCallback = func(evt *event.Event, err error) {
		c.addUndecryptable(evt, err)
		if errors.Is(err, cryptohelper.NoSessionFound) {
			go c.retryDecrypt(ctx, mx, helper, evt)
		}
	}
	if err := helper.Init(ctx); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("%w: init: %w", ErrNoE2EE, err)
	}
	helper.Machine().IgnorePostDecryptionParseErrors = true
	mx.Crypto = helper
	m := &mautrixCrypto{helper: helper, raw: raw, mx: mx, log: c.log}
	if err := m.initVerification(ctx, c, mx); err != nil {
		_ = helper.Close()
		return nil, fmt.Errorf("%w: verification: %w", ErrNoE2EE, err)
	}
	return m, nil
}

// lateKeyWait is how long we keep waiting for a room key after mautrix
// gave up (it waits 25 s): a call invite that decrypts late still rings if
// it is still live, which the engine decides.
const lateKeyWait = 2 * time.Minute

func (c *Client) retryDecrypt(ctx context.Context, mx *mautrix.Client, helper *cryptohelper.CryptoHelper, evt *event.Event) {
	content := evt.Content.AsEncrypted()
	if !helper.WaitForSession(ctx, evt.RoomID, content.SenderKey, content.SessionID, lateKeyWait) {
		return
	}
	dec, err := helper.Decrypt(ctx, evt)
	if err != nil {
		c.log.Warn("late room key did not decrypt", "event_id", evt.ID.String(), "err", err)
		return
	}
	dec.Mautrix.EventSource |= event.SourceDecrypted
	if s, ok := mx.Syncer.(mautrix.DispatchableSyncer); ok {
		s.Dispatch(ctx, dec)
	}
}

func (m *mautrixCrypto) peerDevices(ctx context.Context, userID string) ([]Device, error) {
	mach := m.helper.Machine()
	devs, err := mach.CryptoStore.GetDevices(ctx, id.UserID(userID))
	if err != nil {
		return nil, err
	}
	if len(devs) == 0 {
		// Not tracked yet: ask the server.
		if got := mach.LoadDevices(ctx, id.UserID(userID)); got != nil {
			devs = got
		}
	}
	out := make([]Device, 0, len(devs))
	for _, d := range devs {
		if d.Deleted {
			continue
		}
		// Verified by us (SAS) or signed by a master key we verified;
		// trust on first use of a master key is not shown as verified.
		trust, _ := mach.ResolveTrustContext(ctx, d)
		out = append(out, Device{ID: d.DeviceID.String(), Name: d.Name,
			Verified: trust == id.TrustStateVerified || trust == id.TrustStateCrossSignedVerified})
	}
	return out, nil
}

func (m *mautrixCrypto) shareRoomKey(ctx context.Context, roomID string, users []string) error {
	ids := make([]id.UserID, len(users))
	for i, u := range users {
		ids[i] = id.UserID(u)
	}
	return m.helper.Machine().ShareGroupSession(ctx, id.RoomID(roomID), ids)
}

func (m *mautrixCrypto) sendToDevice(ctx context.Context, mx *mautrix.Client, evType string, messages map[string]map[string]any) error {
	req := &mautrix.ReqSendToDevice{Messages: map[id.UserID]map[id.DeviceID]*event.Content{}}
	for u, devs := range messages {
		req.Messages[id.UserID(u)] = map[id.DeviceID]*event.Content{}
		for d, content := range devs {
			req.Messages[id.UserID(u)][id.DeviceID(d)] = &event.Content{Raw: asRaw(content)}
		}
	}
	typ := event.Type{Type: evType, Class: event.ToDeviceEventType}
	enc, err := m.helper.Machine().EncryptToDevices(ctx, typ, req)
	if err != nil {
		return err
	}
	_, err = mx.SendToDevice(ctx, event.ToDeviceEncrypted, enc)
	return err
}

// asRaw turns content into the map form mautrix's event.Content carries.
func asRaw(content any) map[string]any {
	if m, ok := content.(map[string]any); ok {
		return m
	}
	b, err := json.Marshal(content)
	var m map[string]any
	if err != nil || json.Unmarshal(b, &m) != nil {
		return map[string]any{}
	}
	return m
}

func (m *mautrixCrypto) decryptToDevice(ctx context.Context, evt *event.Event) (matrixrtc.ToDeviceEvent, bool) {
	evt.Type.Class = event.ToDeviceEventType
	if err := evt.Content.ParseRaw(evt.Type); err != nil {
		return matrixrtc.ToDeviceEvent{}, false
	}
	mach := m.helper.Machine()
	dec := mach.HandleEncryptedEvent(ctx, evt)
	if dec == nil {
		return matrixrtc.ToDeviceEvent{}, false // handled by mautrix, or not decryptable
	}
	if m.dispatchVerification(ctx, dec.Sender, dec.Type.Type, dec.Content) {
		return matrixrtc.ToDeviceEvent{}, false
	}
	dev := dec.SenderDevice
	if dev == nil {
		// A device we have not fetched yet: fetch the sender's devices and
		// find the one that owns the Olm session's key.
		mach.LoadDevices(ctx, dec.Sender)
		dev, _ = mach.CryptoStore.FindDeviceByKey(ctx, dec.Sender, dec.SenderKey)
	}
	if dev == nil {
		return matrixrtc.ToDeviceEvent{}, false
	}
	raw := dec.Content.VeryRaw
	if raw == nil {
		raw, _ = json.Marshal(dec.Content.Raw)
	}
	return matrixrtc.ToDeviceEvent{Sender: dec.Sender.String(), SenderDevice: dev.DeviceID.String(), Type: dec.Type.Type,
		Content: append(json.RawMessage(nil), raw...)}, true
}

func (m *mautrixCrypto) close() error {
	m.wg.Wait() // their context (the client's run) has ended
	return m.helper.Close()
}
