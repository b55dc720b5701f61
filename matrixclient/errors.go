package matrixclient

import (
	"errors"

	"github.com/zalando/go-keyring"
)

// ErrKeyNotFound is returned by a Keyring's Get and Delete when there is no
// such secret. It is go-keyring's ErrNotFound.
var ErrKeyNotFound = keyring.ErrNotFound

// Sentinel errors returned (wrapped with %w) by this package.
var (
	// ErrNoKeyring means the OS keyring could not be used; the session is
	// then kept in memory only and is lost when the process exits.
	ErrNoKeyring = errors.New("matrixclient: OS keyring unavailable, session kept in memory only")
	// ErrNotLoggedIn means the action needs a session and there is none.
	ErrNotLoggedIn = errors.New("matrixclient: not logged in")
	// ErrAlreadyStarted means Start was called twice without Stop.
	ErrAlreadyStarted = errors.New("matrixclient: already started")
	// ErrInvalidUserID means a string is not a Matrix user ID (@local:server).
	ErrInvalidUserID = errors.New("matrixclient: invalid Matrix user ID")
	// ErrDiscovery means the homeserver could not be found from the user ID.
	ErrDiscovery = errors.New("matrixclient: homeserver discovery failed")
	// ErrLogin means the homeserver refused the login.
	ErrLogin = errors.New("matrixclient: login failed")
	// ErrSessionExpired means the homeserver no longer accepts the access token.
	ErrSessionExpired = errors.New("matrixclient: session expired, log in again")
	// ErrNotCallable means the room is not a one-to-one room (exactly two
	// joined members) and cannot be called.
	ErrNotCallable = errors.New("matrixclient: room cannot be called (needs exactly two joined members)")
	// ErrUnknownRoom means the room is not in the room list.
	ErrUnknownRoom = errors.New("matrixclient: unknown room")
	// ErrSendFailed means a call event could not be sent even after retries.
	ErrSendFailed = errors.New("matrixclient: sending event failed")
	// ErrNoE2EE means end-to-end encryption is not available (not built
	// in, or not ready), so nothing is sent into an encrypted room.
	ErrNoE2EE = errors.New("matrixclient: end-to-end encryption unavailable")
	// ErrVerification means a device verification step failed (unknown
	// verification, wrong state, or the other side could not be reached).
	ErrVerification = errors.New("matrixclient: verification failed")
	// ErrCrossSigning means setting up or unlocking cross-signing failed
	// (wrong password or recovery key, or no secret storage).
	ErrCrossSigning = errors.New("matrixclient: cross-signing failed")
	// ErrWrongRecoveryKey means a recovery key is malformed or is not the
	// one our secret storage was made with (wrapped with ErrCrossSigning).
	ErrWrongRecoveryKey = errors.New("matrixclient: wrong recovery key")
	// ErrNoSecretStorage means the account keeps no cross-signing keys in
	// secret storage, so there is nothing a recovery key could unlock
	// (wrapped with ErrCrossSigning).
	ErrNoSecretStorage = errors.New("matrixclient: no secret storage on the account")
	// ErrClosed means the client has been closed.
	ErrClosed = errors.New("matrixclient: closed")
)
