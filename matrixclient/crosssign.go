package matrixclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/zalando/go-keyring"
)

// CrossSigning is where our account's cross-signing stands on this device.
type CrossSigning struct {
	// Published: the account has cross-signing keys on the homeserver.
	Published bool
	// CanSign: this device holds the private keys (after SetUpCrossSigning
	// or UnlockCrossSigning; kept in the keyring across restarts), so it
	// signs the users it verifies and our own new devices.
	CanSign bool
	// Trusted: this device trusts the account's master key (it signed it).
	Trusted bool
}

// crossSigner is the cross-signing part of the crypto backend.
type crossSigner interface {
	csStatus(ctx context.Context) (CrossSigning, error)
	// csSetUp makes new keys, stores them in secret storage under a new
	// recovery key and publishes them; it returns the recovery key and
	// the private keys (JSON) to keep.
	csSetUp(ctx context.Context, password string) (recoveryKey string, seeds []byte, err error)
	// csUnlock fetches the private keys from secret storage with the
	// recovery key and signs this device with them.
	csUnlock(ctx context.Context, recoveryKey string) (seeds []byte, err error)
	// csImport loads private keys kept from an earlier run.
	csImport(seeds []byte) error
	// csIdentityChanged reports whether userID's master key changed since
	// we first saw it, without our having verified the new one.
	csIdentityChanged(ctx context.Context, userID string) (bool, error)
}

// maxRecoveryKeyLen bounds what UnlockCrossSigning tries to decode: a
// recovery key is 48 characters in groups of four, with spaces 59.
const maxRecoveryKeyLen = 256

// crossSigningAccount is the keyring account holding the cross-signing
// private keys of the session's device.
func crossSigningAccount(s Session) string { return "cross-signing-" + s.DeviceID }

func (c *Client) crossSigner() (crossSigner, Session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, Session{}, ErrClosed
	}
	cs, ok := c.crypto.(crossSigner)
	if !ok || c.crypto == nil {
		return nil, Session{}, ErrNoE2EE
	}
	return cs, c.sess, nil
}

// CrossSigning reports our account's cross-signing state.
func (c *Client) CrossSigning(ctx context.Context) (CrossSigning, error) {
	cs, _, err := c.crossSigner()
	if err != nil {
		return CrossSigning{}, err
	}
	return cs.csStatus(ctx)
}

// SetUpCrossSigning creates our cross-signing keys, publishes them
// (the homeserver asks for the account password), keeps them in secret
// storage (m.secret_storage) under a new recovery key, which it returns
// for the user to write down, and signs this device. Other devices of
// ours unlock cross-signing with that key (UnlockCrossSigning), as
// Element's "Verify with Recovery Key" does. It replaces existing keys:
// call it only when CrossSigning says none are published.
func (c *Client) SetUpCrossSigning(ctx context.Context, password string) (string, error) {
	cs, s, err := c.crossSigner()
	if err != nil {
		return "", err
	}
	rk, seeds, err := cs.csSetUp(ctx, password)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrCrossSigning, err)
	}
	c.keepCrossSigning(s, seeds)
	return rk, nil
}

// UnlockCrossSigning fetches our cross-signing keys from secret storage
// with the recovery key (Element's Security Key) and signs this device, so
// that our other devices and the users who verified us trust it.
func (c *Client) UnlockCrossSigning(ctx context.Context, recoveryKey string) error {
	if len(recoveryKey) > maxRecoveryKeyLen {
		// Not a key (48 base58 characters and spaces); decoding
		// megabytes of base58 would take minutes.
		return fmt.Errorf("%w: %w: %d bytes", ErrCrossSigning, ErrWrongRecoveryKey, len(recoveryKey))
	}
	cs, s, err := c.crossSigner()
	if err != nil {
		return err
	}
	seeds, err := cs.csUnlock(ctx, recoveryKey)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCrossSigning, err)
	}
	c.keepCrossSigning(s, seeds)
	return nil
}

// PeerIdentityChanged reports whether userID's cross-signing identity (their
// master key) is not the one this device first saw for them and we have
// not verified the new one: they reset their cross-signing, or someone
// else's keys are being passed off as theirs. Their devices, signed by the
// new key, are then not verified either.
func (c *Client) PeerIdentityChanged(ctx context.Context, userID string) (bool, error) {
	cs, _, err := c.crossSigner()
	if err != nil {
		return false, err
	}
	return cs.csIdentityChanged(ctx, userID)
}

// keepCrossSigning stores the private keys in the keyring (never on disk
// in plaintext); without a keyring they last until the process exits.
func (c *Client) keepCrossSigning(s Session, seeds []byte) {
	if err := c.cfg.keyring.Set(c.cfg.service, crossSigningAccount(s), string(seeds)); err != nil {
		c.log.Warn("cross-signing keys not kept in the keyring", "err", err)
	}
}

// loadCrossSigning imports the private keys kept by an earlier run.
func (c *Client) loadCrossSigning(cr cryptoBackend, s Session) {
	cs, ok := cr.(crossSigner)
	if !ok {
		return
	}
	raw, err := c.cfg.keyring.Get(c.cfg.service, crossSigningAccount(s))
	if err != nil {
		if !errors.Is(err, keyring.ErrNotFound) {
			c.log.Warn("reading cross-signing keys from the keyring", "err", err)
		}
		return
	}
	if err := cs.csImport([]byte(raw)); err != nil {
		c.log.Warn("cross-signing keys from the keyring not usable", "err", err)
	}
}

// forgetCrossSigning deletes the kept private keys of an ended session.
func (c *Client) forgetCrossSigning(s Session) {
	if s.DeviceID == "" {
		return
	}
	if err := c.cfg.keyring.Delete(c.cfg.service, crossSigningAccount(s)); err != nil && !errors.Is(err, keyring.ErrNotFound) {
		c.log.Warn("deleting cross-signing keys from the keyring", "err", err)
	}
}
