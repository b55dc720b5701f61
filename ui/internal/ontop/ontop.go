// Package ontop asks the desktop to keep a window above the others, for
// mxcall's incoming-call window (Fyne has no API for it). It takes the
// native handle that fyne's driver.NativeWindow.RunNative hands out.
//
// X11 (Linux, also XWayland): the EWMH _NET_WM_STATE_ABOVE state, set on
// the window and requested from the window manager. Windows: HWND_TOPMOST.
// Elsewhere (macOS, Wayland-native) it reports ErrUnsupported and the
// window stays an ordinary, focused one.
package ontop

import "errors"

// ErrUnsupported means this platform or build has no way to do it.
var ErrUnsupported = errors.New("ontop: keeping a window on top is not supported here")

// ErrFailed means the platform call failed (no X display, bad handle).
var ErrFailed = errors.New("ontop: the windowing system refused")
