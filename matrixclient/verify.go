package matrixclient

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// VerifyState is where one device verification (SAS, emoji) stands.
type VerifyState int

// Verification states, in the order a verification goes through them.
const (
	// VerifyUnknown is the zero value.
	VerifyUnknown VerifyState = iota
	// VerifyRequested: the other side asked us to verify; AcceptVerification
	// or CancelVerification answers.
	VerifyRequested
	// VerifyWaiting: we asked; waiting for the other side to accept.
	VerifyWaiting
	// VerifyReady: both sides accepted; the emoji comparison starts.
	VerifyReady
	// VerifyShowSAS: the emoji (Emoji) are to be compared; ConfirmSAS or
	// CancelVerification(mismatch) answers.
	VerifyShowSAS
	// VerifyConfirmed: we confirmed; waiting for the other side.
	VerifyConfirmed
	// VerifyDone: both confirmed and the keys checked: the device (and,
	// with cross-signing, the user) is verified.
	VerifyDone
	// VerifyCancelled: cancelled by either side (CancelCode, Reason).
	VerifyCancelled
)

// String names the state.
func (s VerifyState) String() string {
	switch s {
	case VerifyRequested:
		return "requested"
	case VerifyWaiting:
		return "waiting"
	case VerifyReady:
		return "ready"
	case VerifyShowSAS:
		return "show-sas"
	case VerifyConfirmed:
		return "confirmed"
	case VerifyDone:
		return "done"
	case VerifyCancelled:
		return "cancelled"
	}
	return "unknown"
}

// Ended reports whether the verification is over (done or cancelled).
func (s VerifyState) Ended() bool { return s == VerifyDone || s == VerifyCancelled }

// SASEmoji is one of the seven emoji of a SAS comparison, with its
// English name from the spec's table.
type SASEmoji struct {
	Emoji string
	Name  string
}

// Verification is a snapshot of one interactive device verification.
type Verification struct {
	// ID is the transaction ID (the request's event ID in a room).
	ID string
	// Peer is the other user (us, when verifying our own other device).
	Peer string
	// PeerDevice is the other device, once known.
	PeerDevice string
	// RoomID is set for an in-room verification.
	RoomID string
	// Incoming is set when the other side asked.
	Incoming bool
	State    VerifyState
	// Emoji and Decimals are set from VerifyShowSAS on.
	Emoji    []SASEmoji
	Decimals []int
	// CancelCode ("m.user", "m.mismatched_sas"...) and Reason are set
	// when cancelled.
	CancelCode string
	Reason     string
	// ByUs is set when we cancelled.
	ByUs bool
	// TheyConfirmed is set when the other side confirmed the emoji before
	// we did (their confirmation waits for ours).
	TheyConfirmed bool
}

// maxVerifications bounds how many verifications the client remembers;
// the oldest ended ones are forgotten first.
const maxVerifications = 32

// verifier is the verification part of the crypto backend.
type verifier interface {
	start(ctx context.Context, userID, roomID string) (string, error)
	accept(ctx context.Context, txnID string) error
	startSAS(ctx context.Context, txnID string) error
	confirm(ctx context.Context, txnID string) error
	cancel(ctx context.Context, txnID, code, reason string) error
	// refresh fetches userID's device and cross-signing keys now: the
	// comparison covers their master key, which may be newer than what
	// the store knows (they just set up cross-signing).
	refresh(ctx context.Context, userID string) error
}

// SetVerificationHandler sets who is told about every change of a
// verification (a copy of its snapshot). fn runs on a client goroutine
// (often the sync goroutine) and must not block. nil stops the delivery.
func (c *Client) SetVerificationHandler(fn func(Verification)) {
	c.mu.Lock()
	c.onVerify = fn
	c.mu.Unlock()
}

// Verifications returns the verifications the client knows of, newest
// last.
func (c *Client) Verifications() []Verification {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Verification, 0, len(c.verifs))
	for _, v := range c.verifs {
		out = append(out, cloneVerification(*v))
	}
	return out
}

// Verification returns one verification by its ID.
func (c *Client) Verification(txnID string) (Verification, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range c.verifs {
		if v.ID == txnID {
			return cloneVerification(*v), true
		}
	}
	return Verification{}, false
}

func cloneVerification(v Verification) Verification {
	v.Emoji = slices.Clone(v.Emoji)
	v.Decimals = slices.Clone(v.Decimals)
	return v
}

// updateVerification changes (or adds) a verification under c.mu and
// tells the handler. It never blocks beyond the handler.
func (c *Client) updateVerification(txnID string, f func(v *Verification)) {
	c.mu.Lock()
	var v *Verification
	for _, x := range c.verifs {
		if x.ID == txnID {
			v = x
			break
		}
	}
	if v == nil {
		v = &Verification{ID: txnID}
		c.verifs = append(c.verifs, v)
		if len(c.verifs) > maxVerifications {
			// Forget the oldest ended one, else the oldest.
			i := slices.IndexFunc(c.verifs, func(x *Verification) bool { return x.State.Ended() })
			c.verifs = slices.Delete(c.verifs, max(i, 0), max(i, 0)+1)
		}
	}
	was := v.State
	f(v)
	if was.Ended() && v.State != was {
		v.State = was // an ended verification stays ended
	}
	snap := cloneVerification(*v)
	fn := c.onVerify
	c.mu.Unlock()
	c.log.Info("verification", "id", snap.ID, "peer", snap.Peer, "device", snap.PeerDevice, "state", snap.State.String(),
		"cancel_code", snap.CancelCode)
	if fn != nil {
		fn(snap)
	}
}

func (c *Client) verifier() (verifier, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	v, ok := c.crypto.(verifier)
	if !ok || c.crypto == nil {
		return nil, ErrNoE2EE
	}
	return v, nil
}

// StartVerification asks userID to verify with us by comparing emoji (SAS).
// With roomID it goes through that room (as Element does for other users;
// the room must be encrypted and userID in it), else to all of userID's
// devices by to-device messages (the only way for our own other devices).
// It returns the verification's ID; the handler hears the rest. Once the
// other side accepts, the emoji comparison starts by itself.
func (c *Client) StartVerification(ctx context.Context, userID, roomID string) (string, error) {
	if _, err := ServerName(userID); err != nil {
		return "", err
	}
	v, err := c.verifier()
	if err != nil {
		return "", err
	}
	if roomID != "" {
		// Nothing goes into an encrypted room in plaintext.
		mx, err := c.mautrixClient()
		if err != nil {
			return "", err
		}
		if _, err := c.ensureRoomState(ctx, mx, roomID); err != nil {
			return "", fmt.Errorf("%w: %w", ErrVerification, err)
		}
	}
	if err := v.refresh(ctx, userID); err != nil {
		return "", fmt.Errorf("%w: fetching %s's keys: %w", ErrVerification, userID, err)
	}
	txnID, err := v.start(ctx, userID, roomID)
	if err != nil {
		return "", fmt.Errorf("%w: verification request: %w", ErrVerification, err)
	}
	c.updateVerification(txnID, func(x *Verification) {
		x.Peer, x.RoomID = userID, roomID
		if x.State == VerifyUnknown {
			x.State = VerifyWaiting
		}
	})
	return txnID, nil
}

// AcceptVerification accepts a verification the other side asked for
// (VerifyRequested). The other side then starts the emoji comparison.
func (c *Client) AcceptVerification(ctx context.Context, txnID string) error {
	return c.verifyAction(ctx, txnID, func(v verifier) error {
		if x, _ := c.Verification(txnID); x.Peer != "" {
			if err := v.refresh(ctx, x.Peer); err != nil {
				return fmt.Errorf("fetching %s's keys: %w", x.Peer, err)
			}
		}
		return v.accept(ctx, txnID)
	})
}

// ConfirmSAS says the emoji shown match those on the other device.
func (c *Client) ConfirmSAS(ctx context.Context, txnID string) error {
	err := c.verifyAction(ctx, txnID, func(v verifier) error { return v.confirm(ctx, txnID) })
	if err == nil {
		c.updateVerification(txnID, func(x *Verification) {
			if x.State == VerifyShowSAS {
				x.State = VerifyConfirmed
			}
		})
	}
	return err
}

// CancelVerification ends a verification. mismatch says the emoji did not
// match (the other side is told "m.mismatched_sas"); nothing is trusted.
func (c *Client) CancelVerification(ctx context.Context, txnID string, mismatch bool) error {
	code, reason := "m.user", "cancelled by the user"
	if mismatch {
		code, reason = "m.mismatched_sas", "the emoji did not match"
	}
	err := c.verifyAction(ctx, txnID, func(v verifier) error { return v.cancel(ctx, txnID, code, reason) })
	if _, known := c.Verification(txnID); !known {
		return err
	}
	// Even when the other side could not be told, it is over here.
	c.updateVerification(txnID, func(x *Verification) {
		if !x.State.Ended() {
			x.State, x.CancelCode, x.Reason, x.ByUs = VerifyCancelled, code, reason, true
		}
	})
	return err
}

func (c *Client) verifyAction(ctx context.Context, txnID string, f func(verifier) error) error {
	v, err := c.verifier()
	if err != nil {
		return err
	}
	if _, ok := c.Verification(txnID); !ok {
		return fmt.Errorf("%w: unknown verification %q", ErrVerification, txnID)
	}
	if err := f(v); err != nil {
		return fmt.Errorf("%w: %w", ErrVerification, err)
	}
	return nil
}

// sasEmoji is the SAS emoji as the spec's table writes it. mautrix hands
// them over as runes, which loses the variation selector (U+FE0F) that
// seven of the 64 carry; Element and matrix-js-sdk show them with it.
func sasEmoji(r rune) string {
	switch r {
	case '☁', '❤', '☂', '✏', '✂', '☎', '✈':
		return string(r) + "\uFE0F"
	}
	return string(r)
}

// Incoming verification requests are limited to verifyLimit per
// verifyWindow (the lifetime of a request): for each one mautrix's helper
// starts a goroutine that sleeps until the request expires, so a peer
// sending requests in a loop would otherwise pile them up. Requests over
// the limit are dropped unseen.
const (
	verifyLimit  = 16
	verifyWindow = 10 * time.Minute
)

// requestLimiter counts incoming verification requests in a sliding window.
type requestLimiter struct {
	mu   sync.Mutex
	now  func() time.Time
	seen []time.Time
}

// allow reports whether one more request may go through now.
func (l *requestLimiter) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.now != nil {
		now = l.now()
	}
	l.seen = slices.DeleteFunc(l.seen, func(t time.Time) bool { return now.Sub(t) >= verifyWindow })
	if len(l.seen) >= verifyLimit {
		return false
	}
	l.seen = append(l.seen, now)
	return true
}

// verifyQueueLen bounds the verification events waiting for the helper.
// A verification takes about ten events; more than this in flight means
// a peer is flooding us, and the rest are dropped.
const verifyQueueLen = 64

// verifyQueue hands verification events from the sync to one worker, in
// the order they came. mautrix's helper answers most events with a
// request to the homeserver (accept, key, MAC, done, cancel), and our
// own calls into it (see verifyLocked) can hold it for as long as a send
// takes: run on the sync goroutine, that stalled the other events of the
// sync behind them, call invites among them, and a peer sending
// verification events in a loop could keep it stalled. push never
// blocks: when the queue is full the event is dropped.
type verifyQueue[T any] struct {
	ch chan T
}

func newVerifyQueue[T any](n int) verifyQueue[T] { return verifyQueue[T]{ch: make(chan T, n)} }

// push queues v; false means the queue was full and v was dropped.
func (q verifyQueue[T]) push(v T) bool {
	select {
	case q.ch <- v:
		return true
	default:
		return false
	}
}

// run hands the queued events to handle, one at a time and in order,
// until ctx ends; what is still queued then is dropped.
func (q verifyQueue[T]) run(ctx context.Context, handle func(T)) {
	for {
		select {
		case v := <-q.ch:
			handle(v)
		case <-ctx.Done():
			return
		}
	}
}
