package backend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mxcall/mxcall/matrixclient"
	"github.com/mxcall/mxcall/ui"
)

// The Backend offers cross-signing and warns about peers' devices when the
// build has end-to-end encryption (UI sets ui.Backend.Security then).
var _ ui.Security = (*Backend)(nil)

// e2eeWaitStep is how often CrossSigningStatus looks whether encryption
// is ready (it is set up by the sync loop, shortly after a login).
const e2eeWaitStep = 50 * time.Millisecond

// waitE2EE waits until the crypto store is ready, or ctx ends.
func (b *Backend) waitE2EE(ctx context.Context) error {
	if !matrixclient.E2EEAvailable {
		return matrixclient.ErrNoE2EE
	}
	t := time.NewTicker(e2eeWaitStep)
	defer t.Stop()
	for {
		if _, err := b.engine(); err != nil {
			return err
		}
		if b.mc.Status().E2EE {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", matrixclient.ErrNoE2EE, ctx.Err())
		case <-t.C:
		}
	}
}

// CrossSigningStatus implements ui.Security. This device counts as
// trusted when it holds the account's cross-signing keys (it set them up
// or was unlocked with the recovery key), so it signs and is signed.
func (b *Backend) CrossSigningStatus(ctx context.Context) (ui.CrossSigningStatus, error) {
	if err := b.waitE2EE(ctx); err != nil {
		return ui.CrossSigningStatus{}, uiErr(err)
	}
	st, err := b.mc.CrossSigning(ctx)
	if err != nil {
		return ui.CrossSigningStatus{}, uiErr(err)
	}
	return ui.CrossSigningStatus{Published: st.Published, Trusted: st.Trusted && st.CanSign}, nil
}

// SetUpCrossSigning implements ui.Security.
func (b *Backend) SetUpCrossSigning(ctx context.Context, password string) (string, error) {
	if err := b.waitE2EE(ctx); err != nil {
		return "", uiErr(err)
	}
	rk, err := b.mc.SetUpCrossSigning(ctx, password)
	if err != nil {
		return "", securityErr(err)
	}
	b.trustChanged(nil) //nolint:contextcheck // the trust cache fetches in the background, past this request
	return rk, nil
}

// UnlockCrossSigning implements ui.Security.
func (b *Backend) UnlockCrossSigning(ctx context.Context, recoveryKey string) error {
	if err := b.waitE2EE(ctx); err != nil {
		return uiErr(err)
	}
	if err := b.mc.UnlockCrossSigning(ctx, recoveryKey); err != nil {
		return securityErr(err)
	}
	// Devices that our cross-signing vouches for are verified now.
	b.trustChanged(nil) //nolint:contextcheck // the trust cache fetches in the background, past this request
	return nil
}

// securityErr gives the UI's sentinels to what the user can fix: a wrong
// password or recovery key, an account without one.
func securityErr(err error) error {
	switch {
	case errors.Is(err, matrixclient.ErrWrongRecoveryKey):
		return fmt.Errorf("%w: %w", ui.ErrWrongRecoveryKey, err)
	case errors.Is(err, matrixclient.ErrNoSecretStorage):
		return fmt.Errorf("%w: %w", ui.ErrNoRecoveryKey, err)
	}
	return uiErr(err)
}

// PeerTrust implements ui.Security: it reads userID's devices from the
// crypto store (which follows device list changes as they come in sync)
// and whether their cross-signing identity changed.
func (b *Backend) PeerTrust(ctx context.Context, userID string) (ui.PeerTrust, error) {
	devs, err := b.mc.PeerDevices(ctx, userID)
	if err != nil {
		return ui.PeerTrust{}, uiErr(err)
	}
	pt := ui.PeerTrust{UserID: userID}
	for _, d := range devs {
		if d.Verified {
			pt.Verified++
			continue
		}
		pt.Unverified = append(pt.Unverified, deviceLabel(d))
	}
	changed, err := b.mc.PeerIdentityChanged(ctx, userID)
	if err != nil {
		b.log.Debug("reading a peer's cross-signing identity", "user", userID, "err", err)
	}
	pt.IdentityChanged = changed
	return pt, nil
}

// deviceLabel names a device as the user sees it: its display name and ID.
func deviceLabel(d matrixclient.Device) string {
	if d.Name == "" || d.Name == d.ID {
		return d.ID
	}
	return d.Name + " (" + d.ID + ")"
}

// onDevicesChanged: users' device lists changed in a sync (a peer logged
// in a new device, signed one, or reset their cross-signing). Their cached
// trust is dropped, and the room list (and with it an open call view)
// hears about it at once instead of after trustMaxAge.
func (b *Backend) onDevicesChanged(users []string) {
	b.trustChanged(users)
}

// trustChanged marks the cached trust of users (of everyone when nil) as
// stale and sends a new room snapshot, which fetches it again.
func (b *Backend) trustChanged(users []string) {
	b.trust.stale(users)
	b.roomSubs.send(b.snapshot())
}
