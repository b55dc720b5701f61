// Package screen captures screens and windows for screen sharing: it
// lists what can be shared (ListSources), makes small thumbnails of it for
// a picker (Thumbnail, cheap enough to refresh every second), and opens a
// VideoSource that yields I420 frames at a few frames a second (Open).
// Encoding and sending are package media's (media.NewScreenTrack).
//
// Linux: X11, through github.com/jezek/xgb (pure Go) on its own display
// connection, with MIT-SHM when the X server shares memory with us (else
// plain GetImage), XComposite for windows (the window's own off-screen
// picture, so a window covered by another is still captured whole),
// RandR 1.5 monitors for screens, and EWMH's _NET_CLIENT_LIST (else the
// root window's mapped children) for windows. A shared window that is
// closed ends its source with ErrSourceGone; one that is resized gives
// frames of its new size; one that is minimised repeats its last frame.
// Under Wayland without XWayland (no DISPLAY) every call returns
// ErrWayland; under XWayland, X11 windows can be shared but whole screens
// cannot (they would show only the X11 windows, the rest black):
// ListSources leaves them out and Open returns ErrWayland.
//
// pion/mediadevices' screen driver (v0.9.4) was not used: it captures only
// the whole X screen of the size it had when opened (no monitor, no window,
// a resized screen would break XShmGetImage), copies every frame twice
// (C.GoBytes then RGBA), and goes through Xlib, whose default error
// handler exits the process on an X error such as a window that was just
// closed. With xgb every X error is a returned error value, and nothing
// touches the Xlib connection GLFW (Fyne) uses.
//
// Wayland through the desktop portal and PipeWire needs libpipewire (cgo)
// and a D-Bus portal session; no well-kept Go library does both (checked:
// github.com/rymdport/portal v0.4.2, which Fyne brings in, has no
// ScreenCast; go2tv.app/screencast does portal + PipeWire through cgo but
// is young and single-author), so it is not done yet.
//
// macOS and Windows: not supported yet; every call returns
// ErrNotSupported (the package still compiles there).
//
// Owns: its X connections. Must not import: anything of mxcall but
// media/vpx, nor Fyne or pion.
package screen
