package callengine

import "errors"

// Sentinel errors returned (wrapped with %w) by this package.
var (
	// ErrMalformedEvent means an m.call.* content could not be parsed.
	ErrMalformedEvent = errors.New("callengine: malformed call event")
	// ErrInvalidID means a call_id or party_id does not follow the spec's grammar.
	ErrInvalidID = errors.New("callengine: invalid call or party id")
	// ErrTooLarge means an event content, SDP or candidate list exceeds our limits.
	ErrTooLarge = errors.New("callengine: call event too large")
	// ErrUnknownEventType means the event type is not an m.call.* type we handle.
	ErrUnknownEventType = errors.New("callengine: unknown call event type")
	// ErrBusy means another call is already in progress.
	ErrBusy = errors.New("callengine: already in a call")
	// ErrNoSuchCall means no call with that ID is known.
	ErrNoSuchCall = errors.New("callengine: no such call")
	// ErrWrongState means the call is not in a state that allows the action.
	ErrWrongState = errors.New("callengine: action not allowed in this call state")
	// ErrInvalidArgument means an argument can never be right, whatever the
	// call's state: a nil track, a reason that is no hangup reason, New
	// without a user ID or Signaller.
	ErrInvalidArgument = errors.New("callengine: invalid argument")
	// ErrClosed means the engine or call has been closed.
	ErrClosed = errors.New("callengine: closed")
)
