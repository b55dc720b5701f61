// Package winstate tells whether a native window can be seen at all
// (mapped and viewable: not minimised, not hidden, not on another
// workspace), so that mxcall's video views stop converting and painting
// frames nobody can see. Fyne has no API for it; it takes the native
// handle that fyne's driver.NativeWindow.RunNative hands out.
//
// X11 (Linux, also XWayland): the window's map state (window managers
// unmap minimised windows, ICCCM). Elsewhere it reports ErrUnsupported and
// callers treat the window as visible.
package winstate

import "errors"

// ErrUnsupported means this platform or build has no way to tell.
var ErrUnsupported = errors.New("winstate: window visibility is not known here")

// ErrFailed means the platform call failed (no X display, bad handle).
var ErrFailed = errors.New("winstate: the windowing system refused")
