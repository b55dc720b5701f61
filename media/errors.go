package media

import "errors"

// Sentinel errors of package media.
var (
	// ErrClosed is returned by methods called after Close.
	ErrClosed = errors.New("media: closed")
	// ErrNoDevice is returned when a requested device ID is not known.
	ErrNoDevice = errors.New("media: no such device")
	// ErrUnsupportedCodec is returned by a sink given a track it cannot decode.
	ErrUnsupportedCodec = errors.New("media: unsupported codec")
	// ErrNoAudioDevice is returned when no real sound device can be opened.
	ErrNoAudioDevice = errors.New("media: no sound device")
)
