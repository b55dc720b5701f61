package ui

import "context"

// VerifyState is where a device verification stands.
type VerifyState int

// Verification states.
const (
	VerifyUnknown   VerifyState = iota
	VerifyRequested             // they asked us: accept or decline
	VerifyWaiting               // we asked: waiting for them to accept
	VerifyReady                 // both accepted: the emoji are coming
	VerifyShowSAS               // compare the emoji
	VerifyConfirmed             // we confirmed: waiting for them
	VerifyDone                  // verified
	VerifyCancelled             // cancelled by either side
)

// String returns a lower-case name of the state.
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

// Ended reports whether the verification is over.
func (s VerifyState) Ended() bool { return s == VerifyDone || s == VerifyCancelled }

// SASEmoji is one emoji of the comparison with its English name.
type SASEmoji struct {
	Emoji string
	Name  string
}

// Verification is a snapshot of one device verification.
type Verification struct {
	ID       string
	Peer     string // user ID
	PeerName string // display name, may be empty
	Incoming bool   // they asked
	State    VerifyState
	Emoji    []SASEmoji // from VerifyShowSAS on: seven of them
	// TheyConfirmed is set when the other side has said the emoji match
	// and we have not yet.
	TheyConfirmed bool
	// Mismatch is set when cancelled because the emoji did not match;
	// Reason says in words why it was cancelled.
	Mismatch bool
	Reason   string
}

// Verify is device verification by emoji comparison (SAS).
type Verify interface {
	// SubscribeVerifications calls fn with every change of every
	// verification until cancel is called. fn may run on any goroutine and
	// must not block.
	SubscribeVerifications(fn func(Verification)) (cancel func())
	// StartVerification asks userID (through roomID, their DM) to verify.
	StartVerification(ctx context.Context, roomID, userID string) (id string, err error)
	// AcceptVerification accepts a request (VerifyRequested).
	AcceptVerification(ctx context.Context, id string) error
	// ConfirmVerification says the emoji match.
	ConfirmVerification(ctx context.Context, id string) error
	// CancelVerification ends it; mismatch says the emoji did not match.
	CancelVerification(ctx context.Context, id string, mismatch bool) error
}
