//go:build goolm

package matrixclient

import (
	"context"
	"encoding/json"

	"maunium.net/go/mautrix/crypto"
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
		return nil, err
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
