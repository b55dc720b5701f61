//go:build !windows

package ontop

// Windows is not available on this system.
func Windows(uintptr) error { return ErrUnsupported }
