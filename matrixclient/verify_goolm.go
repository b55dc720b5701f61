//go:build goolm

package matrixclient

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.mau.fi/util/jsontime"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/verificationhelper"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// verifyCallbacks turns mautrix's verification callbacks into Verification
// snapshots. mautrix calls them with its transaction lock held, and ours
// (vmu): on the verification worker (see verifyQueue) or in one of our
// calls into the helper. Whatever they start (the SAS start after the
// other side accepted our request) runs on a goroutine of its own.
type verifyCallbacks struct {
	c        *Client
	ctx      context.Context // the client's run context
	startSAS func(context.Context, string) error
	wg       *sync.WaitGroup
}

// VerificationRequested: the other side asked.
func (v verifyCallbacks) VerificationRequested(_ context.Context, txnID id.VerificationTransactionID, from id.UserID, fromDevice id.DeviceID) {
	v.c.updateVerification(txnID.String(), func(x *Verification) {
		x.Peer, x.PeerDevice, x.Incoming, x.State = from.String(), fromDevice.String(), true, VerifyRequested
	})
}

// VerificationReady: both sides accepted. The side that asked starts SAS
// (Element does the same when it asked; when Element was asked it waits
// for the asker to start, or starts itself: mautrix handles both).
func (v verifyCallbacks) VerificationReady(_ context.Context, txnID id.VerificationTransactionID, otherDevice id.DeviceID, supportsSAS, _ bool, _ *verificationhelper.QRCode) {
	var incoming bool
	v.c.updateVerification(txnID.String(), func(x *Verification) {
		x.PeerDevice, x.State, incoming = otherDevice.String(), VerifyReady, x.Incoming
	})
	if incoming || !supportsSAS {
		return
	}
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		if err := v.startSAS(v.ctx, txnID.String()); err != nil && v.ctx.Err() == nil {
			v.c.log.Warn("starting the emoji comparison", "id", txnID.String(), "err", err)
		}
	}()
}

// ShowSAS: the emoji to compare.
func (v verifyCallbacks) ShowSAS(_ context.Context, txnID id.VerificationTransactionID, emojis []rune, names []string, decimals []int) {
	v.c.updateVerification(txnID.String(), func(x *Verification) {
		x.Emoji = make([]SASEmoji, len(emojis))
		for i, e := range emojis {
			x.Emoji[i].Emoji = sasEmoji(e)
			if i < len(names) {
				x.Emoji[i].Name = names[i]
			}
		}
		x.Decimals = append([]int(nil), decimals...)
		if x.State != VerifyConfirmed {
			x.State = VerifyShowSAS
		}
	})
}

// VerificationCancelled: either side cancelled (or mautrix did: timeout,
// key mismatch...).
func (v verifyCallbacks) VerificationCancelled(_ context.Context, txnID id.VerificationTransactionID, code event.VerificationCancelCode, reason string) {
	v.c.updateVerification(txnID.String(), func(x *Verification) {
		x.State, x.CancelCode, x.Reason = VerifyCancelled, string(code), reason
	})
}

// VerificationDone: keys checked and trusted.
func (v verifyCallbacks) VerificationDone(_ context.Context, txnID id.VerificationTransactionID, _ event.VerificationMethod) {
	v.c.updateVerification(txnID.String(), func(x *Verification) { x.State = VerifyDone })
}

// initVerification hooks mautrix's verification helper (SAS only: no
// camera for QR codes) into the sync. It must run before the first sync.
//
// The helper listens on a syncer of its own, fed by forwardVerification,
// rather than on the client's: its in-room handlers take an event's own ID
// as the transaction ID (the request's ID is in m.relates_to) and would
// act on our own events coming back from the room. The helper only reads
// mx.Syncer in Init, so it is swapped for that call (before any sync runs).
func (m *mautrixCrypto) initVerification(ctx context.Context, c *Client, mx *mautrix.Client) error {
	main := mx.Syncer
	ext, ok := main.(mautrix.ExtensibleSyncer)
	if !ok {
		return fmt.Errorf("%w: the client's syncer cannot take handlers", ErrVerification)
	}
	m.vsync = mautrix.NewDefaultSyncer()
	cb := verifyCallbacks{c: c, ctx: ctx, startSAS: m.startSAS, wg: &m.wg}
	m.theyConfirmed = func(txnID string) {
		c.updateVerification(txnID, func(x *Verification) { x.TheyConfirmed = true })
	}
	m.vstore = verificationhelper.NewInMemoryVerificationStore()
	m.vh = verificationhelper.NewVerificationHelper(mx, m.helper.Machine(), m.vstore, cb, false, false, true)
	mx.Syncer = m.vsync
	err := m.vh.Init(ctx)
	mx.Syncer = main
	if err != nil {
		return err
	}
	m.vq = newVerifyQueue[*event.Event](verifyQueueLen)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.vq.run(ctx, func(evt *event.Event) { m.dispatch(ctx, evt) })
	}()
	ext.OnEvent(m.forwardVerification)
	return nil
}

// verifyLocked runs f with the helper to itself. mautrix's helper loads a
// transaction for an incoming event, lets go of its lock, and takes it
// again to handle the event with the copy it loaded: a ConfirmSAS that
// runs in between (we confirm as the other side's MAC arrives) is then
// overwritten, neither side of the helper sends m.key.verification.done,
// and the other side's done cancels the verification ("unexpected
// message"). mautrix v0.32 and v0.33 both do this; holding our own lock
// around each event and each call closes the gap.
func (m *mautrixCrypto) verifyLocked(f func() error) error {
	m.vmu.Lock()
	defer m.vmu.Unlock()
	return f()
}

// dispatch hands one event to the helper's handlers (or holds it: see
// holdMAC). The other side's cancellation drops a MAC of theirs we held.
func (m *mautrixCrypto) dispatch(ctx context.Context, evt *event.Event) {
	_ = m.verifyLocked(func() error {
		if evt.Type.Type == event.ToDeviceVerificationCancel.Type {
			delete(m.held, verifyTxnID(evt))
		}
		if !m.holdMAC(ctx, evt) {
			m.vsync.Dispatch(ctx, evt)
		}
		return nil
	})
}

// verifyTxnID is the transaction of a verification event as the helper
// sees it: an in-room event's ID (forwardVerification set it to the
// request's), else the transaction_id of its content.
func verifyTxnID(evt *event.Event) id.VerificationTransactionID {
	if evt.ID != "" {
		return id.VerificationTransactionID(evt.ID)
	}
	if t, ok := evt.Content.Parsed.(event.VerificationTransactionable); ok {
		return t.GetTransactionID()
	}
	return ""
}

// holdMAC keeps the other side's MAC (their confirmation) while we have
// not confirmed yet, and hands it to the helper right after our
// ConfirmSAS; it reports whether it kept evt. Called with vmu held.
//
// mautrix's ConfirmSAS, when their MAC came first, trusts their keys with
// the wrong master key: ours, where its MAC handler passes theirs. With
// cross-signing set up on our side it then dereferences the nil keys of a
// peer without cross-signing (a crash), or refuses the peer's with "master
// keys do not match". Their MAC handled after our confirmation takes the
// path that passes their key. v0.32.0 and v0.33.0 both do this.
func (m *mautrixCrypto) holdMAC(ctx context.Context, evt *event.Event) bool {
	if evt.Type.Type != event.ToDeviceVerificationMAC.Type {
		return false
	}
	txnID := verifyTxnID(evt)
	if txnID == "" {
		return false
	}
	txn, err := m.vstore.GetVerificationTransaction(ctx, txnID)
	if err != nil || txn.VerificationState != verificationhelper.VerificationStateSASKeysExchanged || txn.SentOurMAC {
		return false
	}
	if m.held == nil {
		m.held = map[id.VerificationTransactionID]*event.Event{}
	}
	m.held[txnID] = evt
	m.theyConfirmed(txnID.String())
	return true
}

// forwardVerification queues the verification events of a sync for the
// helper (see verifyQueue): to-device ones as they are, in-room ones from
// others with the request's event ID as their ID.
func (m *mautrixCrypto) forwardVerification(_ context.Context, evt *event.Event) {
	switch {
	case evt.RoomID == "" && evt.Type == event.ToDeviceVerificationRequest:
		m.queue(evt, true)
	case evt.RoomID == "" && strings.HasPrefix(evt.Type.Type, "m.key.verification."):
		m.queue(evt, false)
	case evt.RoomID == "" || evt.Sender == m.mx.UserID:
	case evt.Type == event.EventMessage:
		if msg := evt.Content.AsMessage(); msg.MsgType == event.MsgVerificationRequest && msg.To == m.mx.UserID {
			m.queue(evt, true)
		}
	case strings.HasPrefix(evt.Type.Type, "m.key.verification."):
		var rel struct {
			RelatesTo struct {
				EventID id.EventID `json:"event_id"`
			} `json:"m.relates_to"`
		}
		if json.Unmarshal(evt.Content.VeryRaw, &rel) != nil || rel.RelatesTo.EventID == "" {
			return
		}
		cp := *evt
		cp.ID = rel.RelatesTo.EventID
		m.queue(&cp, false)
	}
}

func (m *mautrixCrypto) start(ctx context.Context, userID, roomID string) (string, error) {
	if roomID != "" {
		return m.startInRoom(ctx, id.UserID(userID), id.RoomID(roomID))
	}
	var txn id.VerificationTransactionID
	err := m.verifyLocked(func() (err error) {
		txn, err = m.vh.StartVerification(ctx, id.UserID(userID))
		return err
	})
	return txn.String(), err
}

// startInRoom sends an in-room verification request. Written by hand:
// mautrix's StartInRoomVerification encrypts the request itself and then
// sends it with SendMessageEvent, which encrypts it again when the client
// has crypto (ours does): the other side decrypted an m.room.message whose
// content was still ciphertext and never saw a request. The transaction is
// recorded in the helper's store as StartInRoomVerification records it.
func (m *mautrixCrypto) startInRoom(ctx context.Context, to id.UserID, roomID id.RoomID) (string, error) {
	content := event.MessageEventContent{
		MsgType:    event.MsgVerificationRequest,
		Body:       m.mx.UserID.String() + " is requesting to verify your device, but your client does not support verification.",
		FromDevice: m.mx.DeviceID,
		Methods:    []event.VerificationMethod{event.VerificationMethodSAS},
		To:         to,
	}
	// Sent and recorded under the helper's lock: the answer, which can
	// come back in the next sync, finds the transaction.
	var txnID id.VerificationTransactionID
	err := m.verifyLocked(func() error {
		resp, err := m.mx.SendMessageEvent(ctx, roomID, event.EventMessage, &content)
		if err != nil {
			return err
		}
		txnID = id.VerificationTransactionID(resp.EventID)
		return m.vstore.SaveVerificationTransaction(ctx, verificationhelper.VerificationTransaction{
			ExpirationTime:    jsontime.UnixMilli{Time: time.Now().Add(10 * time.Minute)},
			RoomID:            roomID,
			VerificationState: verificationhelper.VerificationStateRequested,
			TransactionID:     txnID,
			TheirUserID:       to,
		})
	})
	return txnID.String(), err
}

func (m *mautrixCrypto) refresh(ctx context.Context, userID string) error {
	_, err := m.helper.Machine().FetchKeys(ctx, []id.UserID{id.UserID(userID)}, true)
	return err
}

func (m *mautrixCrypto) accept(ctx context.Context, txnID string) error {
	return m.verifyLocked(func() error { return m.vh.AcceptVerification(ctx, id.VerificationTransactionID(txnID)) })
}

func (m *mautrixCrypto) startSAS(ctx context.Context, txnID string) error {
	return m.verifyLocked(func() error { return m.vh.StartSAS(ctx, id.VerificationTransactionID(txnID)) })
}

func (m *mautrixCrypto) confirm(ctx context.Context, txnID string) error {
	t := id.VerificationTransactionID(txnID)
	return m.verifyLocked(func() error {
		if err := m.vh.ConfirmSAS(ctx, t); err != nil {
			return err
		}
		if evt := m.held[t]; evt != nil { // their MAC came first
			delete(m.held, t)
			m.vsync.Dispatch(ctx, evt)
		}
		return nil
	})
}

func (m *mautrixCrypto) cancel(ctx context.Context, txnID, code, reason string) error {
	return m.verifyLocked(func() error {
		delete(m.held, id.VerificationTransactionID(txnID))
		return m.vh.CancelVerification(ctx, id.VerificationTransactionID(txnID), event.VerificationCancelCode(code), reason)
	})
}

// queue queues evt for the helper's worker; an incoming request
// (request) only while the limit of requests is not reached.
func (m *mautrixCrypto) queue(evt *event.Event, request bool) {
	if request && !m.vlimit.allow() {
		m.log.Warn("too many verification requests; dropped one", "sender", evt.Sender.String())
		return
	}
	if !m.vq.push(evt) {
		m.log.Warn("verification events are coming faster than they are handled; dropped one",
			"sender", evt.Sender.String(), "type", evt.Type.Type)
	}
}

// dispatchVerification queues a decrypted to-device verification event
// for the verification helper. mautrix itself drops Olm-encrypted
// to-device events it does not know (HandleEncryptedEvent returns them and
// its cryptohelper ignores them), so encrypted verification messages,
// which matrix-rust-sdk may send, would never reach the helper: this is
// written by hand for that reason.
func (m *mautrixCrypto) dispatchVerification(ctx context.Context, sender id.UserID, typ string, content event.Content) bool {
	if !strings.HasPrefix(typ, "m.key.verification.") || m.vh == nil {
		return false
	}
	evt := &event.Event{Sender: sender, Type: event.Type{Type: typ, Class: event.ToDeviceEventType}, Content: content}
	if err := evt.Content.ParseRaw(evt.Type); err != nil {
		m.log.Debug("dropping an undecodable verification event", "type", typ, "err", err)
		return true
	}
	evt.Mautrix.EventSource = event.SourceToDevice | event.SourceDecrypted
	m.forwardVerification(ctx, evt)
	return true
}
