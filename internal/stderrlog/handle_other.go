//go:build !windows

package stderrlog

import "os"

// setStdHandle is needed on Windows only: elsewhere the runtime writes its
// crash reports to file descriptor 2, which a program always has.
func setStdHandle(*os.File) error { return nil }

// stdHandle returns 0: there is no standard-error handle to check.
func stdHandle() uintptr { return 0 }

// usable reports whether f is an open file: fstat works on it.
func usable(f *os.File) bool {
	if f == nil {
		return false
	}
	_, err := f.Stat()
	return err == nil
}
