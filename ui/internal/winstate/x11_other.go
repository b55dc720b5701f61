//go:build !linux || !cgo

package winstate

// X11Viewable is not available in this build.
func X11Viewable(uintptr) (bool, error) { return true, ErrUnsupported }
