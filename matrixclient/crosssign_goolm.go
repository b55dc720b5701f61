//go:build goolm

package matrixclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/ssss"
	"maunium.net/go/mautrix/id"
)

func (m *mautrixCrypto) csStatus(ctx context.Context) (CrossSigning, error) {
	mach := m.helper.Machine()
	pub, err := mach.GetOwnCrossSigningPublicKeys(ctx)
	if err != nil {
		return CrossSigning{}, err
	}
	st := CrossSigning{Published: pub != nil, CanSign: mach.CrossSigningKeys != nil}
	if pub != nil {
		st.Trusted, _, _, err = mach.GetOwnCrossSigningVerificationStatus(ctx)
	}
	return st, err
}

func (m *mautrixCrypto) csSetUp(ctx context.Context, password string) (string, []byte, error) {
	mach := m.helper.Machine()
	rk, keys, err := mach.GenerateAndUploadCrossSigningKeysWithPassword(ctx, password, "")
	if err != nil {
		return "", nil, err
	}
	if err := mach.ImportCrossSigningKeys(keys.Seeds()); err != nil {
		return "", nil, err
	}
	if err := mach.SignOwnDevice(ctx, mach.OwnIdentity()); err != nil {
		return "", nil, err
	}
	if err := mach.SignOwnMasterKey(ctx); err != nil {
		return "", nil, err
	}
	seeds, err := json.Marshal(keys.Seeds())
	return rk, seeds, err
}

func (m *mautrixCrypto) csUnlock(ctx context.Context, recoveryKey string) ([]byte, error) {
	mach := m.helper.Machine()
	if err := mach.VerifyWithRecoveryKey(ctx, recoveryKey); err != nil {
		return nil, unlockErr(err)
	}
	return json.Marshal(mach.ExportCrossSigningKeys())
}

func (m *mautrixCrypto) csImport(seeds []byte) error {
	var s crypto.CrossSigningSeeds
	if err := json.Unmarshal(seeds, &s); err != nil {
		return err
	}
	return m.helper.Machine().ImportCrossSigningKeys(s)
}

// unlockErr names the two mistakes a user can make with a recovery key
// (a key that does not parse, another key) and a missing secret storage.
func unlockErr(err error) error {
	switch {
	case errors.Is(err, ssss.ErrInvalidRecoveryKey), errors.Is(err, ssss.ErrIncorrectSSSSKey),
		errors.Is(err, ssss.ErrKeyDataMACMismatch):
		return fmt.Errorf("%w: %w", ErrWrongRecoveryKey, err)
	case errors.Is(err, ssss.ErrNoDefaultKeyID):
		return fmt.Errorf("%w: %w", ErrNoSecretStorage, err)
	}
	return err
}

// csIdentityChanged: userID's master key is not the one we first saw for
// them and we have not verified (signed) the new one.
func (m *mautrixCrypto) csIdentityChanged(ctx context.Context, userID string) (bool, error) {
	mach := m.helper.Machine()
	keys, err := mach.CryptoStore.GetCrossSigningKeys(ctx, id.UserID(userID))
	if err != nil {
		return false, err
	}
	msk, ok := keys[id.XSUsageMaster]
	if !ok || msk.First == "" || msk.Key == msk.First {
		return false, nil
	}
	own, err := mach.GetOwnCrossSigningPublicKeys(ctx)
	if err != nil || own == nil {
		return true, err
	}
	signed, err := mach.CryptoStore.IsKeySignedBy(ctx, id.UserID(userID), msk.Key, mach.Client.UserID, own.UserSigningKey)
	return !signed, err
}
