package fake

import (
	"context"
	"strings"

	"github.com/mxcall/mxcall/ui"
)

// SampleRecoveryKey is the recovery key SetUpCrossSigning returns and
// UnlockCrossSigning accepts (spaces do not matter), shaped like a real one.
const SampleRecoveryKey = "EsTj 3yST y93F SLpB jJsz eAXc 2XzA ygD3 w69H fDKq 8PLr Uj5J"

type securityState struct {
	status ui.CrossSigningStatus
	peers  map[string]ui.PeerTrust
}

// SetCrossSigning sets what CrossSigningStatus reports.
func (b *Backend) SetCrossSigning(st ui.CrossSigningStatus) {
	b.mu.Lock()
	b.sec.status = st
	b.mu.Unlock()
}

// SetPeerTrust sets what PeerTrust reports for pt.UserID and sends the
// room snapshot again, as the real backend does when a peer's devices
// change.
func (b *Backend) SetPeerTrust(pt ui.PeerTrust) {
	b.mu.Lock()
	if b.sec.peers == nil {
		b.sec.peers = map[string]ui.PeerTrust{}
	}
	b.sec.peers[pt.UserID] = pt
	b.mu.Unlock()
	b.SetRooms(b.RoomsSnapshot())
}

// CrossSigningStatus implements ui.Security.
func (b *Backend) CrossSigningStatus(context.Context) (ui.CrossSigningStatus, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sec.status, nil
}

// SetUpCrossSigning implements ui.Security: Password (when set) must
// match; it returns SampleRecoveryKey.
func (b *Backend) SetUpCrossSigning(_ context.Context, password string) (string, error) {
	b.record("cross-signing set-up")
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Password != "" && password != b.Password {
		return "", ui.ErrBadCredentials
	}
	b.sec.status = ui.CrossSigningStatus{Published: true, Trusted: true}
	return SampleRecoveryKey, nil
}

// UnlockCrossSigning implements ui.Security: only SampleRecoveryKey
// unlocks, and only once cross-signing is published.
func (b *Backend) UnlockCrossSigning(_ context.Context, recoveryKey string) error {
	b.record("cross-signing unlock")
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.sec.status.Published {
		return ui.ErrNoRecoveryKey
	}
	if strings.Join(strings.Fields(recoveryKey), "") != strings.ReplaceAll(SampleRecoveryKey, " ", "") {
		return ui.ErrWrongRecoveryKey
	}
	b.sec.status.Trusted = true
	return nil
}

// PeerTrust implements ui.Security: what SetPeerTrust set, else one
// device whose verification follows the peer's DM's Trust.
func (b *Backend) PeerTrust(_ context.Context, userID string) (ui.PeerTrust, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if pt, ok := b.sec.peers[userID]; ok {
		return pt, nil
	}
	pt := ui.PeerTrust{UserID: userID}
	for _, r := range b.snap.Rooms {
		if r.DM && r.Peer == userID {
			switch r.Trust {
			case ui.TrustVerified:
				pt.Verified = 1
			case ui.TrustUnverified:
				pt.Unverified = []string{"PHONE"}
			}
		}
	}
	return pt, nil
}
