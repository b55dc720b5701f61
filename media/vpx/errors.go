package vpx

import "errors"

// Sentinel errors of package vpx.
var (
	// ErrClosed is returned by methods called after Close.
	ErrClosed = errors.New("vpx: closed")
	// ErrInit is returned when libvpx refuses a configuration.
	ErrInit = errors.New("vpx: codec init failed")
	// ErrCodec is returned when libvpx fails to encode or decode a frame.
	ErrCodec = errors.New("vpx: codec error")
	// ErrBadFrame is returned for a frame whose size or planes do not match.
	ErrBadFrame = errors.New("vpx: bad frame")
)
