package screen

import "errors"

// Sentinel errors of package screen.
var (
	// ErrWayland is returned under Wayland where X11 capture cannot see
	// the screen: without XWayland (no DISPLAY), or for a whole screen
	// under XWayland.
	ErrWayland = errors.New("screen: screen sharing needs an X11 session or XWayland (Wayland's desktop portal is not supported yet)")
	// ErrNoDisplay is returned when there is no display at all (neither
	// DISPLAY nor WAYLAND_DISPLAY is set) or the X server cannot be reached.
	ErrNoDisplay = errors.New("screen: no display to capture")
	// ErrNotSupported is returned on systems where capture is not
	// implemented yet (macOS, Windows).
	ErrNotSupported = errors.New("screen: screen sharing is not supported on this system yet")
	// ErrNoSource is returned for an ID that names no screen or window
	// (a malformed ID, or a window that is gone before Open).
	ErrNoSource = errors.New("screen: no such screen or window")
	// ErrSourceGone ends a VideoSource whose window was closed or whose
	// monitor was unplugged while it was shared.
	ErrSourceGone = errors.New("screen: the shared window or screen is gone")
	// ErrUnsupportedFormat is returned for an X visual that is not 24/32-bit
	// TrueColor in 32-bit pixels.
	ErrUnsupportedFormat = errors.New("screen: unsupported pixel format")
	// ErrNotViewable is returned by Thumbnail for a window that is not
	// shown (minimised): X keeps no picture of it.
	ErrNotViewable = errors.New("screen: the window is not shown")
	// ErrClosed is returned by methods called after Close.
	ErrClosed = errors.New("screen: closed")
)
