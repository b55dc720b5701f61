//go:build windows

package ontop

import "syscall"

var setWindowPos = syscall.NewLazyDLL("user32.dll").NewProc("SetWindowPos")

const (
	hwndTopmost   = ^uintptr(0) // HWND_TOPMOST, (HWND)-1
	swpNoSize     = 0x0001
	swpNoMove     = 0x0002
	swpNoActivate = 0x0010
)

// Windows keeps the window with this HWND above the others.
func Windows(hwnd uintptr) error {
	if err := setWindowPos.Find(); err != nil {
		return ErrUnsupported
	}
	r, _, _ := setWindowPos.Call(hwnd, hwndTopmost, 0, 0, 0, 0, swpNoMove|swpNoSize|swpNoActivate)
	if r == 0 {
		return ErrFailed
	}
	return nil
}
