package backend

import "errors"

// Sentinel errors.
var (
	// ErrNotLoggedIn means a call action came before login.
	ErrNotLoggedIn = errors.New("backend: not logged in")
	// ErrEncryptedCall refuses to join (or answer) a MatrixRTC call in an
	// end-to-end encrypted room. Its message is meant for users.
	ErrEncryptedCall = errors.New("this room is end-to-end encrypted, and mxcall cannot encrypt the media of " +
		"Element Call (MatrixRTC) calls yet: joining would send your camera and microphone unencrypted " +
		"through the call server, so mxcall does not join")
	// ErrUnknownRoom means the room is not one we joined.
	ErrUnknownRoom = errors.New("backend: not a joined room")
	// ErrNotSupported means a call control that MatrixRTC calls do not
	// have (hold).
	ErrNotSupported = errors.New("backend: not supported in Element Call (MatrixRTC) calls")
)
