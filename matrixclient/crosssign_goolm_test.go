//go:build goolm

package matrixclient

import (
	"errors"
	"fmt"
	"testing"

	"maunium.net/go/mautrix/crypto/ssss"
)

func TestUnlockErr(t *testing.T) {
	other := errors.New("network down")
	for _, tc := range []struct {
		name string
		in   error
		want error
	}{
		{"malformed key", ssss.ErrInvalidRecoveryKey, ErrWrongRecoveryKey},
		{"another key", ssss.ErrIncorrectSSSSKey, ErrWrongRecoveryKey},
		{"no secret storage", fmt.Errorf("failed to get default SSSS key data: %w", ssss.ErrNoDefaultKeyAccountDataEvent), ErrNoSecretStorage},
		{"other", other, other},
	} {
		if got := unlockErr(tc.in); !errors.Is(got, tc.want) || !errors.Is(got, tc.in) {
			t.Errorf("%s: %v does not wrap %v and %v", tc.name, got, tc.want, tc.in)
		}
	}
}
