//go:build !linux || !cgo

package ontop

// X11 is not available in this build.
func X11(uintptr) error { return ErrUnsupported }
