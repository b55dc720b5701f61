package stderrlog

import (
	"os"
	"syscall"
)

var procSetStdHandle = syscall.NewLazyDLL("kernel32.dll").NewProc("SetStdHandle")

// setStdHandle makes f the process's STD_ERROR_HANDLE, which the Go runtime
// looks up whenever it writes a crash report.
func setStdHandle(f *os.File) error {
	stdErr := int32(syscall.STD_ERROR_HANDLE) // -12, passed as a DWORD
	if r, _, err := procSetStdHandle.Call(uintptr(uint32(stdErr)), f.Fd()); r == 0 {
		return err
	}
	return nil
}

// stdHandle returns the process's STD_ERROR_HANDLE (for tests).
func stdHandle() uintptr {
	h, _ := syscall.GetStdHandle(syscall.STD_ERROR_HANDLE)
	return uintptr(h)
}

// usable reports whether f has a handle of a known kind (console, pipe,
// file): not the missing handle of a GUI program or a closed file. (Stat is
// no test: under Wine it fails on a perfectly good file handle.)
func usable(f *os.File) bool {
	if f == nil {
		return false
	}
	t, err := syscall.GetFileType(syscall.Handle(f.Fd()))
	return err == nil && t != syscall.FILE_TYPE_UNKNOWN
}
