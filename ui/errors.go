package ui

import "errors"

// Sentinel errors the backend wraps (with %w) so the UI can show a clear
// message. Any other error is shown as-is.
var (
	// ErrBadCredentials: the homeserver refused the user ID or password
	// (M_FORBIDDEN on login).
	ErrBadCredentials = errors.New("wrong user ID or password")
	// ErrUnreachable: the homeserver could not be reached (DNS, connection
	// refused, timeout, TLS failure).
	ErrUnreachable = errors.New("homeserver unreachable")
	// ErrNotMatrix: the server answered, but not like a Matrix homeserver
	// (no /_matrix/client/versions).
	ErrNotMatrix = errors.New("not a Matrix homeserver")
	// ErrInvalidUserID: the user ID is not of the form @name:server.
	ErrInvalidUserID = errors.New("invalid Matrix user ID")
	// ErrWrongRecoveryKey: the recovery key is malformed or not the
	// account's.
	ErrWrongRecoveryKey = errors.New("wrong recovery key")
	// ErrNoRecoveryKey: the account keeps no cross-signing keys under a
	// recovery key (set up cross-signing first).
	ErrNoRecoveryKey = errors.New("no recovery key set up for this account")
)
