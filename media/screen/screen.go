package screen

import (
	"context"
	"image"
	"os"
	"time"
)

// Kind tells a screen from a window.
type Kind int

// Kinds of Source.
const (
	KindUnknown Kind = iota
	// KindScreen is a whole monitor, or every monitor together.
	KindScreen
	// KindWindow is one top-level window.
	KindWindow
)

// String implements fmt.Stringer.
func (k Kind) String() string {
	switch k {
	case KindScreen:
		return "screen"
	case KindWindow:
		return "window"
	default:
		return "unknown"
	}
}

// Source is something that can be shared. ID is what Thumbnail and Open
// take; it stays valid while the screen or window exists (IDs look like
// "screen:root", "monitor:HDMI-1" and "window:0x3a00007", but treat them
// as opaque).
type Source struct {
	ID    string
	Kind  Kind
	Title string
	// Size is the source's size in pixels when listed.
	Size image.Point
	// PID is the window's process (EWMH _NET_WM_PID), 0 when unknown or
	// for screens; compare it with os.Getpid() to tell our own windows.
	PID int
	// Primary marks the primary monitor.
	Primary bool
}

// Options configures Open.
type Options struct {
	// FPS is the capture rate (default 5).
	FPS int
	// MaxWidth and MaxHeight bound the frames' size (default 1920x1080):
	// larger sources are shrunk (area averaging) keeping their aspect.
	MaxWidth, MaxHeight int
}

func (o Options) withDefaults() Options {
	if o.FPS <= 0 {
		o.FPS = 5
	}
	if o.MaxWidth <= 0 || o.MaxHeight <= 0 {
		o.MaxWidth, o.MaxHeight = 1920, 1080
	}
	return o
}

// Frame is one captured picture in packed I420 (BT.601 limited range):
// Y has stride Width, U and V stride Width/2. Width and Height are even.
type Frame struct {
	Width, Height int
	Y, U, V       []byte
	// Time is when the capture of the picture began.
	Time time.Time
}

// VideoSource yields frames of one screen or window at the rate Open was
// given.
type VideoSource interface {
	// ReadFrame waits for the next frame's time, captures it and returns
	// it; the frame is valid until the next ReadFrame. It returns
	// ErrSourceGone when the window was closed (or the monitor removed),
	// ErrClosed after Close, and ctx's error when ctx ends first. It is
	// not safe for concurrent use.
	ReadFrame(ctx context.Context) (*Frame, error)
	// Source describes what is captured.
	Source() Source
	// Close releases the source; it is idempotent and may be called from
	// any goroutine, also while ReadFrame waits.
	Close() error
}

// ListSources lists what can be shared: screens first (the primary
// monitor first), then the windows that are shown, in the window
// manager's order.
func ListSources(ctx context.Context) ([]Source, error) {
	p, err := NewPicker(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = p.Close() }()
	return p.Sources(ctx)
}

// Thumbnail returns a picture of the source at most maxW pixels wide
// (and at most as high as wide), for a picker. Call it about once a
// second for live thumbnails; a Picker keeps its connection between
// calls.
func Thumbnail(ctx context.Context, id string, maxW int) (*image.RGBA, error) {
	p, err := NewPicker(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = p.Close() }()
	return p.Thumbnail(ctx, id, maxW)
}

// displayError is the error for a session without a usable DISPLAY.
func displayError() error {
	if os.Getenv("DISPLAY") != "" {
		return nil
	}
	if os.Getenv("WAYLAND_DISPLAY") != "" {
		return ErrWayland
	}
	return ErrNoDisplay
}

// underWayland reports whether this X display is XWayland in a Wayland
// session.
func underWayland() bool {
	return os.Getenv("WAYLAND_DISPLAY") != "" || os.Getenv("XDG_SESSION_TYPE") == "wayland"
}
