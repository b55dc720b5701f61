package fake

import (
	"context"
	"errors"
	"fmt"

	"github.com/mxcall/mxcall/ui"
)

// ErrNoVerification is returned for an unknown verification ID.
var ErrNoVerification = errors.New("fake: no such verification")

type verifState struct {
	subs  map[int]func(ui.Verification)
	all   map[string]ui.Verification
	next  int
	count int
}

// SubscribeVerifications implements ui.Verify.
func (b *Backend) SubscribeVerifications(fn func(ui.Verification)) func() {
	b.mu.Lock()
	if b.verifs.subs == nil {
		b.verifs.subs = map[int]func(ui.Verification){}
	}
	id := b.verifs.next
	b.verifs.next++
	b.verifs.subs[id] = fn
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.verifs.subs, id)
		b.mu.Unlock()
	}
}

// PushVerification sets a verification's state and tells the subscribers
// (as the other side's moves would).
func (b *Backend) PushVerification(v ui.Verification) {
	b.mu.Lock()
	if b.verifs.all == nil {
		b.verifs.all = map[string]ui.Verification{}
	}
	b.verifs.all[v.ID] = v
	subs := make([]func(ui.Verification), 0, len(b.verifs.subs))
	for _, fn := range b.verifs.subs {
		subs = append(subs, fn)
	}
	b.mu.Unlock()
	for _, fn := range subs {
		fn(v)
	}
}

// VerificationState returns what the fake knows of a verification.
func (b *Backend) VerificationState(id string) (ui.Verification, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.verifs.all[id]
	return v, ok
}

// SampleEmoji are seven emoji as a real comparison shows them.
var SampleEmoji = []ui.SASEmoji{{Emoji: "🐶", Name: "Dog"}, {Emoji: "🔑", Name: "Key"}, {Emoji: "🎸", Name: "Guitar"},
	{Emoji: "🌽", Name: "Corn"}, {Emoji: "🚀", Name: "Rocket"}, {Emoji: "☂️", Name: "Umbrella"}, {Emoji: "🐙", Name: "Octopus"}}

// StartVerification implements ui.Verify: a new verification waiting for
// the peer.
func (b *Backend) StartVerification(_ context.Context, roomID, userID string) (string, error) {
	b.record("verify %s %s", roomID, userID)
	b.mu.Lock()
	b.verifs.count++
	id := fmt.Sprintf("v%d", b.verifs.count)
	b.mu.Unlock()
	b.PushVerification(ui.Verification{ID: id, Peer: userID, State: ui.VerifyWaiting})
	return id, nil
}

func (b *Backend) step(id, what string, f func(v *ui.Verification)) error {
	b.record("%s %s", what, id)
	v, ok := b.VerificationState(id)
	if !ok {
		return ErrNoVerification
	}
	f(&v)
	b.PushVerification(v)
	return nil
}

// AcceptVerification implements ui.Verify: the emoji are shown at once.
func (b *Backend) AcceptVerification(_ context.Context, id string) error {
	return b.step(id, "verify-accept", func(v *ui.Verification) { v.State, v.Emoji = ui.VerifyShowSAS, SampleEmoji })
}

// ConfirmVerification implements ui.Verify: the peer confirmed already.
func (b *Backend) ConfirmVerification(_ context.Context, id string) error {
	return b.step(id, "verify-confirm", func(v *ui.Verification) { v.State = ui.VerifyDone })
}

// CancelVerification implements ui.Verify.
func (b *Backend) CancelVerification(_ context.Context, id string, mismatch bool) error {
	return b.step(id, fmt.Sprintf("verify-cancel mismatch=%v", mismatch), func(v *ui.Verification) {
		v.State, v.Mismatch = ui.VerifyCancelled, mismatch
		if !mismatch {
			v.Reason = "cancelled by you"
		}
	})
}
