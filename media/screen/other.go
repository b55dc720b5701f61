//go:build !linux

package screen

import (
	"context"
	"image"
)

// Picker lists sources and makes thumbnails over one connection to the
// display. Not supported on this system yet: NewPicker returns
// ErrNotSupported.
type Picker struct{}

// NewPicker connects to the display.
func NewPicker(context.Context) (*Picker, error) { return nil, ErrNotSupported }

// Sources lists what can be shared (see ListSources).
func (p *Picker) Sources(context.Context) ([]Source, error) { return nil, ErrNotSupported }

// Thumbnail returns a picture of the source (see Thumbnail).
func (p *Picker) Thumbnail(context.Context, string, int) (*image.RGBA, error) {
	return nil, ErrNotSupported
}

// Close closes the connection; it is idempotent.
func (p *Picker) Close() error { return nil }

// Open starts capturing the source with this ID. Not supported on this
// system yet: it returns ErrNotSupported.
func Open(context.Context, string, Options) (VideoSource, error) { return nil, ErrNotSupported }

// supported: capture works on this system (tests).
const supported = false
