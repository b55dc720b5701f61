package rtcauth

import "errors"

// Sentinel errors. Handler maps each one to an HTTP status and a Matrix error
// code (see the package documentation).
var (
	// ErrNotJSON means the body is not a single JSON object of the expected
	// shape: a syntax error, an unknown field, a wrong type or trailing data.
	ErrNotJSON = errors.New("rtcauth: body is not valid JSON of the expected shape")
	// ErrBadJSON means a required field is missing or has an invalid value.
	ErrBadJSON = errors.New("rtcauth: missing or invalid field")
	// ErrTooLarge means the body is larger than MaxBodyBytes.
	ErrTooLarge = errors.New("rtcauth: request body too large")
	// ErrUnauthorized means the OpenID token could not be validated, or it
	// belongs to someone else than the request claims.
	ErrUnauthorized = errors.New("rtcauth: OpenID token not accepted")
	// ErrServerNotAllowed means the token's homeserver is not on the
	// allow-list. It wraps ErrUnauthorized.
	ErrServerNotAllowed = errors.New("rtcauth: homeserver not allowed")
	// ErrConfig means a Config is incomplete or invalid.
	ErrConfig = errors.New("rtcauth: invalid configuration")
)
