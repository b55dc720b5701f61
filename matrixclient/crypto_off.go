//go:build !goolm

package matrixclient

import (
	"context"

	"maunium.net/go/mautrix"
)

// E2EEAvailable reports whether this build has end-to-end encryption. This
// build does not (build with -tags goolm): encrypted rooms are listed but
// cannot be called, and nothing is ever sent into them in plaintext.
const E2EEAvailable = false

var _ = (*Client).addUndecryptable // used by the goolm build

func (c *Client) initCrypto(context.Context, *mautrix.Client, Session, bool) (cryptoBackend, error) {
	return nil, nil
}
