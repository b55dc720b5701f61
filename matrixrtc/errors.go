package matrixrtc

import "errors"

// Sentinel errors returned (wrapped with %w) by this package.
var (
	// ErrMalformed means a membership event does not satisfy the validity
	// rules: a required field is missing or has the wrong type, the state
	// key does not belong to the sender, or the content is too large.
	ErrMalformed = errors.New("matrixrtc: malformed membership event")
	// ErrBadKey means a media key event is malformed, for another room,
	// or claims a device other than the one that sent it.
	ErrBadKey = errors.New("matrixrtc: unusable media key event")
	// ErrLeft means a membership event is a leave (content {} or only the
	// sticky key): the device is not in the call.
	ErrLeft = errors.New("matrixrtc: membership left")
	// ErrUnknownType means the event is not a MatrixRTC membership type.
	ErrUnknownType = errors.New("matrixrtc: not a membership event type")
	// ErrNoFocus means no LiveKit focus could be found by any discovery
	// step. Its message is meant for users.
	ErrNoFocus = errors.New("this homeserver has no MatrixRTC (Element Call) service configured")
	// ErrTokenRefused means the token service did not accept our OpenID
	// token (401 M_UNAUTHORIZED): the homeserver is not allowed there or
	// the token is invalid.
	ErrTokenRefused = errors.New("matrixrtc: the call service refused our Matrix identity")
	// ErrTokenRequest means the token service rejected the request itself
	// (400 M_BAD_JSON or M_NOT_JSON).
	ErrTokenRequest = errors.New("matrixrtc: the call service rejected the token request")
	// ErrTokenService means the token service failed or answered something
	// that is not a token (5xx, an unexpected status, a malformed body).
	ErrTokenService = errors.New("matrixrtc: the call service failed")
	// ErrUnreachable means an HTTP request could not be made at all.
	ErrUnreachable = errors.New("matrixrtc: service unreachable")
	// ErrForbidden is what Matrix implementations wrap when the homeserver
	// refuses an action (M_FORBIDDEN), typically a state event the user's
	// power level does not allow.
	ErrForbidden = errors.New("matrixrtc: forbidden by the homeserver")
	// ErrInvalidArgument means an argument can never be right (an empty
	// room ID, a transport without a URL, a nil Matrix).
	ErrInvalidArgument = errors.New("matrixrtc: invalid argument")
)

// Sentinel errors of Session.
var (
	// ErrNoPermission means the homeserver refused our membership event:
	// the room's power levels do not let us join calls there.
	ErrNoPermission = errors.New("you are not allowed to join calls in this room (its power levels forbid call membership events)")
	// ErrWrongState means the session is not in a state that allows the
	// action (Join while joined).
	ErrWrongState = errors.New("matrixrtc: action not allowed in this session state")
	// ErrDisconnected means LiveKit ended our connection (removed from the
	// room, room closed, connection lost).
	ErrDisconnected = errors.New("matrixrtc: disconnected from the call's media server")
	// ErrClosed means the session has been closed.
	ErrClosed = errors.New("matrixrtc: session closed")
)

// Sentinel errors of DelayedEvents implementations (MSC4140).
var (
	// ErrDelayNotFound means the homeserver does not know the delay ID:
	// the event was sent or cancelled already.
	ErrDelayNotFound = errors.New("matrixrtc: delayed event not found")
	// ErrMaxDelayExceeded means the delay is above the homeserver's
	// maximum; a *MaxDelayError says which.
	ErrMaxDelayExceeded = errors.New("matrixrtc: delay above the homeserver's maximum")
)
