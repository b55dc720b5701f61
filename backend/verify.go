package backend

import (
	"context"

	"github.com/mxcall/mxcall/matrixclient"
	"github.com/mxcall/mxcall/ui"
)

// The Backend verifies devices when the build has end-to-end encryption.
var _ ui.Verify = (*Backend)(nil)

// SubscribeVerifications implements ui.Verify.
func (b *Backend) SubscribeVerifications(fn func(ui.Verification)) (cancel func()) {
	return b.verifySubs.add(fn)
}

// StartVerification implements ui.Verify: in the DM, as Element does.
func (b *Backend) StartVerification(ctx context.Context, roomID, userID string) (string, error) {
	id, err := b.mc.StartVerification(ctx, userID, roomID)
	return id, uiErr(err)
}

// AcceptVerification implements ui.Verify.
func (b *Backend) AcceptVerification(ctx context.Context, id string) error {
	return uiErr(b.mc.AcceptVerification(ctx, id))
}

// ConfirmVerification implements ui.Verify.
func (b *Backend) ConfirmVerification(ctx context.Context, id string) error {
	return uiErr(b.mc.ConfirmSAS(ctx, id))
}

// CancelVerification implements ui.Verify.
func (b *Backend) CancelVerification(ctx context.Context, id string, mismatch bool) error {
	return uiErr(b.mc.CancelVerification(ctx, id, mismatch))
}

// onVerification passes a verification's new state on to the UI; once one
// is done, the peer's trust is fetched again so the room list turns green.
func (b *Backend) onVerification(v matrixclient.Verification) {
	if v.State == matrixclient.VerifyDone {
		b.trust.forget(v.Peer)
		b.roomSubs.send(b.snapshot())
	}
	b.verifySubs.send(uiVerification(v))
}

func uiVerification(v matrixclient.Verification) ui.Verification {
	out := ui.Verification{ID: v.ID, Peer: v.Peer, Incoming: v.Incoming, State: uiVerifyState(v.State),
		TheyConfirmed: v.TheyConfirmed, Mismatch: v.CancelCode == "m.mismatched_sas", Reason: v.Reason}
	for _, e := range v.Emoji {
		out.Emoji = append(out.Emoji, ui.SASEmoji{Emoji: e.Emoji, Name: e.Name})
	}
	return out
}

func uiVerifyState(s matrixclient.VerifyState) ui.VerifyState {
	switch s {
	case matrixclient.VerifyRequested:
		return ui.VerifyRequested
	case matrixclient.VerifyWaiting:
		return ui.VerifyWaiting
	case matrixclient.VerifyReady:
		return ui.VerifyReady
	case matrixclient.VerifyShowSAS:
		return ui.VerifyShowSAS
	case matrixclient.VerifyConfirmed:
		return ui.VerifyConfirmed
	case matrixclient.VerifyDone:
		return ui.VerifyDone
	case matrixclient.VerifyCancelled:
		return ui.VerifyCancelled
	}
	return ui.VerifyUnknown
}
